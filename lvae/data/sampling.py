"""Where a training batch comes from: the host (numpy) or a copy resident on the device.

On a GPU a small conv VAE is bound by per-step overhead, so drawing a batch on the host
and copying it over each step costs a real share of the step. Datasets whose images fit
(the procedural dSprites grid is 377 MB bit-packed) can instead live on the device and
be drawn there by a seeded ``torch.Generator`` on that device: no host work and no copy
per step. Larger datasets keep the host path, with pinned memory on CUDA so the copy is
asynchronous.

The two paths draw different batches from one seed: the host path uses the run's
``data`` stream (``lvae.seeding``) in numpy, as it always has; the device path seeds a
torch generator on the device with the same stream's seed (docs/objectives.md,
"Random streams"). A checkpoint records which one it used and refuses the other.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np
import torch

from lvae.data.base import IMAGE_SIZE, GroundTruthDataset
from lvae.data.dsprites_common import PackedDSprites

#: largest copy of a dataset (in bytes, as stored: bits or uint8) kept on a device
RESIDENT_LIMIT_BYTES = 1 << 30
_CHUNK = 4096  # images converted at a time when a dataset is copied to the device


class BatchSampler(Protocol):
    #: checkpoint key of this sampler's random state
    state_key: str

    def batch(self, n: int) -> torch.Tensor: ...

    def get_state(self) -> Any: ...

    def set_state(self, state: Any) -> None: ...


class HostSampler:
    """numpy draws on the host (the ``data`` stream), copied to the device per batch."""

    state_key = "batch_rng"

    def __init__(self, dataset: GroundTruthDataset, device: torch.device, seed: int,
                 memory_format: torch.memory_format = torch.contiguous_format):
        self.dataset, self.device, self.memory_format = dataset, device, memory_format
        self.rng = np.random.default_rng(seed)
        self.pin = device.type == "cuda"  # pinned: the copy runs asynchronously

    def batch(self, n: int) -> torch.Tensor:
        x = torch.from_numpy(self.dataset.random_batch(n, self.rng))
        if self.pin:
            x = x.pin_memory()
        return x.to(self.device, non_blocking=True, memory_format=self.memory_format)

    def get_state(self) -> Any:
        return self.rng.bit_generator.state

    def set_state(self, state: Any) -> None:
        self.rng.bit_generator.state = state


class ResidentImages:
    """A dataset's images on a device: bit-packed rows (dSprites) or uint8 pixels."""

    def __init__(self, storage: torch.Tensor, packed: bool, shape: tuple[int, int, int]):
        self.storage, self.packed, self.shape = storage, packed, shape
        self.shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=storage.device)

    def __len__(self) -> int:
        return self.storage.shape[0]

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """float32 (n, C, H, W) in [0, 1], exactly the dataset's ``observations``."""
        rows = self.storage.index_select(0, index)
        if self.packed:  # np.unpackbits order: most significant bit first
            bits = rows.unsqueeze(-1).bitwise_right_shift(self.shifts).bitwise_and_(1)
            return bits.reshape(-1, *self.shape).to(torch.float32)
        return rows.to(torch.float32).div_(255.0)


def resident_images(dataset: GroundTruthDataset, device: torch.device,
                    limit_bytes: int = RESIDENT_LIMIT_BYTES) -> ResidentImages | None:
    """The dataset's images on ``device``, or None when they do not fit ``limit_bytes``
    or are not exactly representable as uint8 (they then stay on the host)."""
    if isinstance(dataset, PackedDSprites):
        with warnings.catch_warnings():  # a read-only memory map: never written through
            warnings.simplefilter("ignore", UserWarning)
            bits = torch.from_numpy(np.asarray(dataset.packed))
        return ResidentImages(bits.to(device), True, (1, IMAGE_SIZE, IMAGE_SIZE))
    shape = tuple(dataset.observation_shape)
    if len(dataset) * int(np.prod(shape)) > limit_bytes:
        return None
    storage = torch.empty((len(dataset), *shape), dtype=torch.uint8, device=device)
    for start in range(0, len(dataset), _CHUNK):
        x = dataset.observations(np.arange(start, min(start + _CHUNK, len(dataset))))
        scaled = np.rint(x * np.float32(255.0))
        if not np.array_equal(scaled.astype(np.float32) / np.float32(255.0), x):
            return None  # not k / 255: a uint8 copy would change the pixels
        storage[start : start + len(x)] = torch.from_numpy(scaled.astype(np.uint8))
    return ResidentImages(storage, False, shape)


class DeviceSampler:
    """Batches drawn on the device from resident images by a seeded device generator."""

    state_key = "batch_generator"

    def __init__(self, images: ResidentImages, device: torch.device, seed: int,
                 memory_format: torch.memory_format = torch.contiguous_format):
        self.images, self.device, self.memory_format = images, device, memory_format
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

    def batch(self, n: int) -> torch.Tensor:
        index = torch.randint(0, len(self.images), (n,), generator=self.generator,
                              device=self.device)
        return self.images.take(index).contiguous(memory_format=self.memory_format)

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state.cpu())


def make_sampler(dataset: GroundTruthDataset, device: torch.device, seed: int,
                 on_device: bool | None,
                 memory_format: torch.memory_format = torch.contiguous_format) -> BatchSampler:
    """``on_device`` None: resident on accelerators when the images fit, host on CPU
    (measured: on CPU both paths cost well under 1% of a step, and the host path keeps
    the numbers CPU runs always had and one shared page-cache copy per machine)."""
    if on_device is None:
        on_device = device.type != "cpu"
    images = resident_images(dataset, device) if on_device else None
    if images is None:
        return HostSampler(dataset, device, seed, memory_format)
    return DeviceSampler(images, device, seed, memory_format)
