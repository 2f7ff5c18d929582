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


def mount_tmpfs(mountpoint: Path, size_mb: int) -> str | None:
    """Mount a tmpfs of ``size_mb`` MiB at ``mountpoint``; None, or why it cannot (not
    root, no mount permission: the caller skips with that reason)."""
    import os
    import subprocess

    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    mountpoint.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs",
                           str(mountpoint)], capture_output=True, text=True)
    return None if proc.returncode == 0 else f"mount -t tmpfs failed: {proc.stderr.strip()}"


def unmount(mountpoint: Path) -> None:
    """Unmount (lazily, should a process still hold a file there)."""
    import subprocess

    subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def fill(folder: Path, leave_bytes: int) -> Path:
    """A file taking all but ``leave_bytes`` of the free space of ``folder``'s file system:
    the storage filling up under a running sweep."""
    import shutil

    filler = folder / "filler"
    left = shutil.disk_usage(folder).free - leave_bytes
    with open(filler, "wb") as f:
        while left > 0:
            chunk = min(left, 1 << 22)
            f.write(b"\0" * chunk)
            left -= chunk
    return filler


def remount(mountpoint: Path, read_only: bool) -> None:
    """Remount ``mountpoint`` read-only or writable again: a storage that becomes
    unwritable under a running sweep (an NFS server gone read-only, a full quota)."""
    import subprocess

    mode = "ro" if read_only else "rw"
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mountpoint)], check=True,
                   capture_output=True)
