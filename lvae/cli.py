"""How every command-line entry point reports bad input: one line on stderr, exit code 2.

A user who mistypes a path or a flag needs to know which input is wrong, what was found
and what was expected, not a traceback. Bugs keep their traceback: only the exception
types that mean "the input is wrong" are turned into a message (set ``LVAE_DEBUG=1`` to
see the traceback of those too). ``python -m lvae.train``, ``python -m lvae.evaluate``,
``sweeps/run.py`` and ``python -m analysis.report`` all go through :func:`run_cli`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

# re-exported: bad input files are read (and InputError raised) by lvae.atomic; the CLIs
# raise and catch it as lvae.cli's error
from lvae.atomic import InputError as InputError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Exception types that mean "the request or an input file is wrong" (DatasetError,
#: ExperimentError, ConfigMismatchError and InputError are ValueErrors).
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, OSError)


def error_line(exc: BaseException) -> str:
    """The exception as one line: KeyError without its quotes, OSError with its file."""
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.filename is not None:  # raised by the OS: "[Errno 2] ..."
        text = f"{exc.filename}: {exc.strerror or exc}"
    else:
        text = str(exc) or type(exc).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def report_error(exc: BaseException) -> int:
    print(f"error: {error_line(exc)}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def run_cli(
    body: Callable[[], int],
    expected: tuple[type[BaseException], ...] = EXPECTED_ERRORS,
    on_interrupt: Callable[[], str] | None = None,
) -> int:
    """Run a CLI's body: expected errors become ``error: ...`` and exit code 2,
    Ctrl-C becomes exit code 130 with ``on_interrupt()``'s hint (how to continue)."""
    try:
        return body()
    except expected as exc:
        if os.environ.get("LVAE_DEBUG"):
            raise
        return report_error(exc)
    except KeyboardInterrupt:
        hint = on_interrupt() if on_interrupt is not None else ""
        print(f"\ninterrupted{': ' + hint if hint else ''}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


# ------------------------------------------------------------- input checks
def check_output_dir(path: str | os.PathLike, flag: str) -> Path:
    """An output folder that exists or can be created: refuse a regular file (at the path
    or above it) and an unwritable parent before anything is written."""
    if not str(path).strip():  # Path("") is the current folder: never what was meant
        raise InputError(f"{flag} is empty; expected a folder path")
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} is an existing file, not a folder; pass a folder path")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{flag} {path}: {probe} is a file, so the folder cannot be created there")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: {probe} is not writable")
    return path
