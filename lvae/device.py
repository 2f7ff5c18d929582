"""Where a run computes: the device it asks for, deterministic kernels, CPU features.

``resolve_device`` turns ``config.device`` into a device that exists here (the trainer
and ``python -m lvae.evaluate`` both call it). The layout of conv activations that
oneDNN runs fastest depends on the vector units: channels-last was about 6% faster than
contiguous at one thread on an AVX-512 machine and about 18% slower on an AVX2-only one
(``benchmarks/bench_trainer.py`` measures it on yours), so ``TrainConfig.channels_last =
None`` picks per machine (:func:`default_channels_last`).
"""

from __future__ import annotations

import os

import torch

#: device types the trainer supports (torch parses many more that cannot train this model)
DEVICE_TYPES = ("cpu", "cuda", "mps")


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` -> a device that exists here;
    anything else is a ValueError naming the value (torch's own error names neither)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = "expected auto, cpu, cuda, cuda:N or mps"
    what = f"config.device (--device) is {name!r}"
    try:
        device = torch.device(name) if isinstance(name, str) and name else None
    except RuntimeError:
        device = None
    known = device is not None and device.type in DEVICE_TYPES
    if not known or (device.type != "cuda" and device.index):
        raise ValueError(f"{what}, not a device name; {expected}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{what} but CUDA is not available (use 'cpu' or 'auto')")
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and device.index is not None and device.index >= count:
        raise ValueError(f"{what} but this machine has {count} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{what} but MPS is not available (use 'cpu' or 'auto')")
    return device


def set_determinism(on: bool) -> None:
    """Deterministic kernels (cuDNN and PyTorch's own) for bit-reproducible GPU runs."""
    if on:  # cuBLAS needs a fixed workspace to be deterministic (CUDA >= 10.2)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.deterministic = on
        torch.backends.cudnn.benchmark = False


def cpu_capability() -> str:
    """PyTorch's dispatch level for this CPU: "AVX512", "AVX2", "DEFAULT", ..."""
    return str(torch.backends.cpu.get_cpu_capability())


def default_channels_last(device: torch.device) -> bool:
    """Channels-last on CPUs whose kernels run at AVX-512; contiguous elsewhere (CUDA
    included, where it has not been measured)."""
    return device.type == "cpu" and cpu_capability().startswith("AVX512")
