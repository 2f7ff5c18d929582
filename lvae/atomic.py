"""The project's one module for files written whole and JSON read back.

Writes go to a temporary sibling, fsync'd when asked, renamed over the target, and
removed if anything fails, so a reader (a resumed run, a sweep polling its folder, a
browser) never sees half a file and no temporary is left behind. JSON and CSV are
serialised in full before the temporary is opened. Reads name the file and what it
should hold when it is missing, a folder, not text, not JSON or not a JSON object.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class InputError(ValueError):
    """A bad argument or input file; the message names it, what was found and what was expected.

    Re-exported by :mod:`lvae.cli`, whose entry points report it as one line."""


# ------------------------------------------------------------------ writing
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # gone already after a successful replace


def write_bytes_atomic(path: str | os.PathLike, data: bytes, parents: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; ``parents``: make its folder first if needed."""
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: str | os.PathLike, text: str, parents: bool = False) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"), parents=parents)


def write_json_atomic(path: str | os.PathLike, data: Any, parents: bool = False) -> Path:
    """``data`` as indented JSON with sorted keys; numpy/torch scalars and paths allowed."""
    text = json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"
    return write_text_atomic(path, text, parents=parents)


def write_csv_atomic(
    path: str | os.PathLike, table: pd.DataFrame, index: bool = False, parents: bool = False
) -> Path:
    return write_text_atomic(path, table.to_csv(index=index), parents=parents)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ------------------------------------------------------------------ reading
def parse_json(data: bytes, source: str, expected: str) -> dict[str, Any]:
    """A JSON object from ``data`` read from ``source``; undecodable bytes, bad JSON or
    another JSON type raise :class:`InputError` naming the source and ``expected``."""
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(
            f"{source} is not text (binary or not UTF-8); expected JSON holding {expected}"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} is not valid JSON ({exc}); expected {expected}") from None
    if not isinstance(value, dict):
        raise InputError(
            f"{source} holds a JSON {type(value).__name__}; expected an object holding {expected}"
        )
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
