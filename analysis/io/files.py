"""Atomic writes: readers (a browser, a sweep polling the folder) never see half a file."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from lvae.atomic import write_bytes_atomic as _write_bytes


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Into a folder made on demand (report folders are), via lvae's one atomic write."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return _write_bytes(path, data)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(path: str | os.PathLike, table: pd.DataFrame, index: bool = False) -> Path:
    return write_text_atomic(path, table.to_csv(index=index))
