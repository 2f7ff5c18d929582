"""A toy trainer configuration and a TensorBoard reader shared by the trainer tests."""

from __future__ import annotations

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lvae.config import TrainConfig


def toy_config(tmp_path, **overrides) -> TrainConfig:
    base = dict(
        dataset="toy_squares",
        objective="lvae",
        architecture="conv",
        steps=12,
        batch_size=16,
        lr=1e-3,
        log_every=3,
        checkpoint_every=6,
        image_every=6,
        latent_dim=4,
        threads=1,
        out=str(tmp_path / "run"),
    )
    base.update(overrides)
    return TrainConfig(**base)


def read_tb(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc
