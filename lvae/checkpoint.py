"""Checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint is a plain dict of tensors, numbers and strings, so the safe loader can
read it; it never contains pickled Python objects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from lvae.atomic import atomic_path

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Save via temp file + rename: an interrupted save leaves the previous one intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; expected the {CHECKPOINT_NAME} file written by "
                         "lvae.train")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (expected {CHECKPOINT_NAME} written by "
                                "lvae.train)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        # torch's advice that follows is about other files
        detail = " ".join(str(exc).split()).split(". ")[0]
        raise ValueError(
            f"{path}: not a readable lvae checkpoint ({type(exc).__name__}: {detail}); "
            f"expected a {CHECKPOINT_NAME} written by lvae.train"
        ) from exc
    if not isinstance(state, dict):
        raise ValueError(f"{path}: holds a {type(state).__name__}, expected the dict lvae.train "
                         "saves")
    missing = {"config", "step", "model"} - set(state)
    if missing:
        raise ValueError(f"{path}: checkpoint lacks field(s) {sorted(missing)}")
    return state
