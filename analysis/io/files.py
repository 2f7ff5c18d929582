"""Atomic writes into report folders: lvae.atomic's, making the folder on demand."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from lvae import atomic


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return atomic.write_text_atomic(path, text, parents=True)


def write_csv_atomic(path: str | os.PathLike, table: pd.DataFrame, index: bool = False) -> Path:
    return atomic.write_csv_atomic(path, table, index=index, parents=True)
