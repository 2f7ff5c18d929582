"""The training configuration: one dataclass shared by the trainer, its CLI and the sweeps.

Everything a run depends on lives here, so ``config.json`` next to a checkpoint is
enough to rebuild the model, the objective and the data stream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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
        "final_optimizer_state",
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
    #: keep the optimiser's moments in the checkpoint written at the last step. Only a
    #: finished run trained further with a larger ``steps`` needs them, to continue exactly
    #: as if it had never stopped; without them the final checkpoint is a third of the size
    #: for ``conv`` (sweeps turn them off: docs/cluster.md) and such a run restarts Adam's
    #: moments from zero. Checkpoints before the last step always keep them.
    final_optimizer_state: bool = True
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
            raise ValueError(f"{source}: expected a mapping of config fields, got "
                             f"{type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {unknown}; valid fields: {sorted(names)}")
        return cls(**data)

    def identity(self) -> dict[str, Any]:
        """The fields that define what is trained (a checkpoint must match them to resume)."""
        return {k: v for k, v in self.to_dict().items() if k not in RESUMABLE_FIELDS}

    def validate(self) -> None:
        """Reject invalid values before any work starts, naming the field (rules: FIELD_RULES,
        checked in order; the first failure is raised)."""
        for rule in FIELD_RULES:
            for name in rule.fields:
                value = getattr(self, name)
                if not rule.ok(value):
                    raise ValueError(f"config.{name} must be {rule.expected}, got {value!r}")


class FieldRule(NamedTuple):
    """What ``fields`` must hold: ``ok(value)`` is true; ``expected`` says it in words."""

    fields: tuple[str, ...]
    ok: Callable[[Any], bool]
    expected: str


def _int_from(low: int, bools: bool = False) -> Callable[[Any], bool]:
    """An int >= ``low``; with ``bools``, True and False pass as 1 and 0."""
    return lambda v: isinstance(v, int) and (bools or not isinstance(v, bool)) and v >= low


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _or_none(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or ok(v)


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda v: v in choices


def _adam_betas(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(b, int | float) and 0 <= b < 1 for b in value)
    )


#: :meth:`TrainConfig.validate`'s rules, in the order they are checked.
FIELD_RULES: tuple[FieldRule, ...] = (
    FieldRule(("latent_dim", "batch_size", "steps", "log_every", "checkpoint_every"),
              _int_from(1), "an integer >= 1"),
    FieldRule(("image_every", "eval_num_train", "eval_num_test"),
              _int_from(0, bools=True), "an integer >= 0"),
    FieldRule(("lr",), _positive, "> 0"),
    FieldRule(("objective_lr",), _or_none(_positive), "None or > 0"),
    FieldRule(("threads",), _or_none(_int_from(1, bools=True)), "None or an integer >= 1"),
    FieldRule(("channels_last",), _or_none(_is_bool), "true, false or null (by CPU)"),
    FieldRule(("eval_every",), _int_from(0), "an integer >= 0"),
    FieldRule(("track_num_train", "track_num_test"), _int_from(1), "an integer >= 1"),
    FieldRule(("seed",), _int_from(0), "an integer >= 0"),
    FieldRule(("objective_betas",), _adam_betas, "two numbers in [0, 1)"),
    FieldRule(("data_on_device",), _or_none(_is_bool), "true, false or null (by device)"),
    FieldRule(("precision",), _one_of(PRECISIONS), f"one of {', '.join(PRECISIONS)}"),
    FieldRule(("compile",), _one_of(COMPILE_MODES), f"one of {', '.join(COMPILE_MODES)}"),
    FieldRule(("deterministic", "final_optimizer_state"), _is_bool, "true or false"),
    FieldRule(("objective_params",), lambda v: isinstance(v, dict), "a dict"),
    FieldRule(("eval_representation",), _one_of(("mean", "sampled")), "'mean' or 'sampled'"),
)
