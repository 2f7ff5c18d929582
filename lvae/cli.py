"""How every command-line entry point reports bad input: one line on stderr, exit code 2.

A user who mistypes a path or a flag needs to know which input is wrong, what was found
and what was expected, not a traceback. Bugs keep their traceback: only the exception
types that mean "the input is wrong" are turned into a message (set ``LVAE_DEBUG=1`` to
see the traceback of those too). ``python -m lvae.train``, ``python -m lvae.evaluate``,
``sweeps/run.py`` and ``python -m analysis.report`` all go through :func:`run_cli`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Exception types that mean "the request or an input file is wrong" (DatasetError,
#: ExperimentError, ConfigMismatchError and InputError are ValueErrors).
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, OSError)


class InputError(ValueError):
    """A bad argument or input file; the message names it, what was found and what was expected."""


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
def parse_json(data: bytes, source: str, expected: str) -> dict[str, Any]:
    """A JSON object from ``data`` read from ``source``; undecodable bytes, bad JSON or
    another JSON type raise :class:`InputError` naming the source and ``expected``."""
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{source} is not text (binary or not UTF-8); expected JSON holding {expected}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} is not valid JSON ({exc}); expected {expected}") from None
    if not isinstance(value, dict):
        raise InputError(f"{source} holds a JSON {type(value).__name__}; expected an object holding {expected}")
    return value


def read_json(path: str | os.PathLike, expected: str) -> dict[str, Any]:
    """A JSON object from the file ``path`` (see :func:`parse_json`); a missing file or a
    folder in its place is an :class:`InputError` too."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; expected a file holding {expected}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path} is missing; expected a file holding {expected}") from None
    return parse_json(data, str(path), expected)


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
