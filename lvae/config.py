"""The training configuration: one dataclass shared by the trainer, its CLI and the sweeps.

Everything a run depends on lives here, so ``config.json`` next to a checkpoint is
enough to rebuild the model, the objective and the data stream.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvae.atomic import write_text_atomic

#: Fields that may differ between a checkpoint and the config resuming it: they change
#: how long we train, where things go or how we watch, not what is being trained.
RESUMABLE_FIELDS = frozenset(
    {
        "steps",
        "out",
        "data_root",
        "device",
        "threads",
        "channels_last",
        "deterministic",
        "data_on_device",
        "compile",
        "log_every",
        "image_every",
        "checkpoint_every",
        "evaluate",
        "eval_num_train",
        "eval_num_test",
        "eval_seed",
        "eval_representation",
        "eval_options",
        "eval_every",
        "track_metrics",
        "track_num_train",
        "track_num_test",
        "track_options",
    }
)

PRECISIONS = ("fp32", "bf16")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


@dataclass
class TrainConfig:
    """One training run. Defaults follow disentanglement_lib (conv, z=10, Adam 1e-4, batch 64)."""

    dataset: str = "dsprites_procedural"
    data_root: str | None = None
    architecture: str = "conv"
    objective: str = "lvae"
    objective_params: dict[str, Any] = field(default_factory=dict)
    #: None: the dataset's likelihood (Bernoulli for binary, Gaussian for RGB).
    likelihood: str | None = None
    latent_dim: int = 10
    batch_size: int = 64
    steps: int = 1000
    lr: float = 1e-4
    #: learning rate of the objective's own parameters (L-VAE's loss weights); None: ``lr``.
    #: Short runs raise it so the learned weights reach their balance within the run.
    objective_lr: float | None = 0.01
    #: Adam betas of the objective's own parameters: a short second-moment memory so the
    #: learned loss weights keep moving as their gradients shrink (docs/objectives.md)
    objective_betas: list[float] = field(default_factory=lambda: [0.5, 0.9])
    seed: int = 0
    #: "cpu", "cuda", "cuda:1" or "auto" (CUDA when available).
    device: str = "cpu"
    #: torch intra-op threads; None leaves PyTorch's default.
    threads: int | None = None
    #: NHWC layout for conv weights and batches: same losses to float tolerance; faster
    #: or slower by CPU (benchmarks/bench_trainer.py). None: chosen from the detected CPU
    #: features (lvae.device.default_channels_last).
    channels_last: bool | None = None
    #: deterministic kernels (cuDNN, torch.use_deterministic_algorithms): bit-identical
    #: GPU runs at some speed cost; CPU runs are deterministic either way
    deterministic: bool = False
    #: keep the dataset's images on the device and draw batches there (a device generator
    #: seeded from the ``data`` stream; lvae.data.sampling). None: on accelerators when the
    #: images fit, the host path on CPU (measured faster there).
    data_on_device: bool | None = None
    #: "fp32", or "bf16": forward pass under bf16 autocast, losses and optimiser in fp32
    #: (over 30 steps: total and reconstruction loss within 1% of fp32, KL within 15%;
    #: tests/lvae/test_train.py)
    precision: str = "fp32"
    #: torch.compile the network's forward: "none", "default", "max-autotune", or
    #: "reduce-overhead" (CUDA graphs; CUDA only). Same maths, compiled kernels.
    compile: str = "none"
    log_every: int = 50
    #: reconstructions and traversals every N steps (0: only at the end).
    image_every: int = 1000
    checkpoint_every: int = 500
    #: metrics computed at the end (names from lvae.metrics), written to metrics.json.
    evaluate: list[str] = field(default_factory=list)
    eval_num_train: int = 10_000
    eval_num_test: int = 5_000
    eval_seed: int = 0
    eval_representation: str = "mean"
    #: extra metric settings, e.g. {"num_bins": 20, "dci_probe": "gbt"}
    eval_options: dict[str, Any] = field(default_factory=dict)
    #: metrics along training: every N steps (0: never) compute ``track_metrics`` on a
    #: small sample with the fast DCI probe and log them to TensorBoard as metric/<key>.
    #: Training is unchanged (own sample, eval mode, no training randomness consumed).
    eval_every: int = 0
    track_metrics: list[str] = field(default_factory=lambda: ["mig", "dci"])
    track_num_train: int = 2000
    track_num_test: int = 1000
    track_options: dict[str, Any] = field(default_factory=lambda: {"dci_probe": "hgb"})
    out: str = "runs/default"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping of config fields, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {unknown}; valid fields: {sorted(names)}")
        return cls(**data)

    def identity(self) -> dict[str, Any]:
        """The fields that define what is trained (a checkpoint must match them to resume)."""
        return {k: v for k, v in self.to_dict().items() if k not in RESUMABLE_FIELDS}

    def validate(self) -> None:
        """Reject invalid numbers before any work starts, naming the field."""
        positive_ints = ("latent_dim", "batch_size", "steps", "log_every", "checkpoint_every")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"config.{name} must be an integer >= 1, got {value!r}")
        for name in ("image_every", "eval_num_train", "eval_num_test"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"config.{name} must be an integer >= 0, got {value!r}")
        if not isinstance(self.lr, int | float) or not self.lr > 0:
            raise ValueError(f"config.lr must be > 0, got {self.lr!r}")
        if self.objective_lr is not None and (
            not isinstance(self.objective_lr, int | float) or not self.objective_lr > 0
        ):
            raise ValueError(f"config.objective_lr must be None or > 0, got {self.objective_lr!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"config.threads must be None or an integer >= 1, got {self.threads!r}")
        if self.channels_last is not None and not isinstance(self.channels_last, bool):
            raise ValueError(
                f"config.channels_last must be true, false or null (by CPU), got {self.channels_last!r}"
            )
        if not isinstance(self.eval_every, int) or isinstance(self.eval_every, bool) or self.eval_every < 0:
            raise ValueError(f"config.eval_every must be an integer >= 0, got {self.eval_every!r}")
        for name in ("track_num_train", "track_num_test"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"config.{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"config.seed must be an integer >= 0, got {self.seed!r}")
        betas = self.objective_betas
        if not (
            isinstance(betas, list | tuple)
            and len(betas) == 2
            and all(isinstance(b, int | float) and 0 <= b < 1 for b in betas)
        ):
            raise ValueError(f"config.objective_betas must be two numbers in [0, 1), got {betas!r}")
        if self.data_on_device is not None and not isinstance(self.data_on_device, bool):
            raise ValueError(
                f"config.data_on_device must be true, false or null (by device), got {self.data_on_device!r}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"config.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"config.compile must be one of {', '.join(COMPILE_MODES)}, got {self.compile!r}")
        if not isinstance(self.deterministic, bool):
            raise ValueError(f"config.deterministic must be true or false, got {self.deterministic!r}")
        if not isinstance(self.objective_params, dict):
            raise ValueError(f"config.objective_params must be a dict, got {self.objective_params!r}")
        if self.eval_representation not in ("mean", "sampled"):
            raise ValueError(
                f"config.eval_representation must be 'mean' or 'sampled', got {self.eval_representation!r}"
            )


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write JSON via a temporary file and rename, so readers never see half a file."""
    text = json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"
    write_text_atomic(path, text)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
