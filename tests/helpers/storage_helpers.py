"""What a sweep leaves in its storage, for the storage tests: trial folders, their bytes and
their checkpoints."""

from __future__ import annotations

from pathlib import Path


def trial_dirs(exp: Path) -> list[Path]:
    """The trial folders of a stage (those holding Tune's params.json)."""
    return sorted(p.parent for p in exp.glob("*/params.json"))


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder``, each inode once (as ``du`` counts hard links)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def checkpoint_files(folder: Path) -> list[Path]:
    """Every stored copy of weights under ``folder`` (``*.pt``)."""
    return sorted(folder.rglob("*.pt"))
