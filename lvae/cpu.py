"""CPU features that decide defaults, detected rather than assumed.

The layout of conv activations that oneDNN runs fastest depends on the vector units:
channels-last was about 6% faster than contiguous at one thread on an AVX-512 machine
and about 18% slower on an AVX2-only one (``benchmarks/bench_trainer.py`` measures it on
yours), so ``TrainConfig.channels_last = None`` picks per machine.
"""

from __future__ import annotations

import torch


def cpu_capability() -> str:
    """PyTorch's dispatch level for this CPU: "AVX512", "AVX2", "DEFAULT", ..."""
    return str(torch.backends.cpu.get_cpu_capability())


def default_channels_last(device: torch.device) -> bool:
    """Channels-last on CPUs whose kernels run at AVX-512; contiguous elsewhere (CUDA
    included, where it has not been measured)."""
    return device.type == "cpu" and cpu_capability().startswith("AVX512")
