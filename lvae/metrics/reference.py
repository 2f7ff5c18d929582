"""Floor and ceiling of every metric: what an untrained encoder and the true factors score.

A raw score says little until one knows what the same metric, sample and settings give
with no learning at all (the floor) and with a perfect representation (the ceiling).
Both are scored here through the code path the trials use, so the only difference from a
trained model is the encoder (docs/metrics.md, "Floor and ceiling"):

* :func:`floor_scores`: the trial's architecture at initialisation, its weights drawn
  exactly as ``lvae.train.build_run`` draws them for seed ``s`` (the ``init`` stream of
  :func:`lvae.seeding.stream_seeds`), scored by :func:`lvae.evaluate.evaluate_loaded`.
* :func:`ceiling_scores`: codes equal to the ground-truth factors (class index per varying
  factor), drawn by the same sampler (:mod:`lvae.metrics.utils`) from the same seed.

``settings`` is a dict like the analysis' re-scoring settings: ``metrics``, ``num_train``,
``num_test``, ``seed`` (the evaluation seed), ``representation`` and the metric options
(``num_bins``, ``dci_probe``; ``n_jobs`` changes only the speed). Importing this module
loads no torch: only :func:`floor_scores` needs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from lvae.data.base import GroundTruthDataset
from lvae.metrics.utils import check_positive_int, nonconstant_factor_columns

#: keys of a settings dict that are not metric options
SAMPLE_KEYS = ("metrics", "num_train", "num_test", "seed", "representation")
#: init seeds of the floor when none are given (docs/metrics.md, "Floor and ceiling")
DEFAULT_INIT_SEEDS = (0, 1, 2, 3, 4)

Scores = dict[str, float]


def canonical_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that decide the scores, checked and complete: metrics sorted, every
    option a requested metric takes filled with its default, speed-only options and
    options no requested metric takes dropped. Two settings that give the same scores
    give the same dict, so it can key a cache (:func:`settings_key`)."""
    from lvae.evaluate import REPRESENTATIONS
    from lvae.metrics.registry import (
        check_metric_names,
        score_settings,
        setting_default,
        setting_targets,
    )

    missing = [k for k in ("metrics", "num_train", "num_test") if k not in settings]
    if missing:
        raise ValueError(f"evaluation settings lack {missing}; given: {sorted(settings)}")
    metrics = settings["metrics"]
    metrics = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else list(metrics)
    check_metric_names(metrics)
    targets = setting_targets()
    unknown = sorted(set(settings) - set(SAMPLE_KEYS) - set(targets))
    if unknown:
        raise ValueError(f"unknown evaluation setting(s) {unknown}; valid: "
                         f"{sorted({*SAMPLE_KEYS, *targets})}")
    representation = settings.get("representation", "mean")
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
    out: dict[str, Any] = {
        "metrics": sorted(set(metrics)),
        "num_train": check_positive_int(_as_int(settings["num_train"]), "num_train"),
        "num_test": check_positive_int(_as_int(settings["num_test"]), "num_test"),
        "seed": _as_int(settings.get("seed", 0)),
        "representation": representation,
    }
    for option, scored in sorted(score_settings().items()):
        if scored & set(metrics):
            value = settings.get(option)
            out[option] = setting_default(option) if value is None else _as_int(value)
    return out


def _as_int(value: Any) -> Any:
    """A whole float read from a CSV (3000.0) as an int; anything else unchanged."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def settings_key(settings: Mapping[str, Any]) -> str:
    """The canonical settings as one JSON line: equal strings mean equal scores."""
    return json.dumps(canonical_settings(settings), sort_keys=True, separators=(",", ":"))


def _options(canonical: Mapping[str, Any], n_jobs: int | None) -> dict[str, Any]:
    """Metric options of canonical settings, as lvae.evaluate.evaluate_loaded takes them."""
    from lvae.metrics.registry import setting_targets

    opts = {k: v for k, v in canonical.items() if k not in SAMPLE_KEYS}
    if n_jobs is not None and "n_jobs" in setting_targets():
        if set(setting_targets()["n_jobs"][0]) & set(canonical["metrics"]):
            opts["n_jobs"] = n_jobs
    return opts


def _open(dataset: GroundTruthDataset | str, data_root: str | None) -> GroundTruthDataset:
    if isinstance(dataset, GroundTruthDataset):
        return dataset
    from lvae.data import get_dataset

    return get_dataset(dataset, data_root)


def initial_model(architecture: str, num_channels: int, latent_dim: int, seed: int) -> Any:
    """The weights trial seed ``seed`` starts from: ``lvae.train.build_run`` seeds torch
    with the ``init`` stream of :func:`lvae.seeding.stream_seeds` and builds the model.
    The caller's torch random state is left as it was."""
    import torch

    from lvae.models import get_model
    from lvae.seeding import stream_seeds

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seeds(seed)["init"])
        return get_model(architecture, num_channels=num_channels, latent_dim=latent_dim)


def floor_scores(
    dataset: GroundTruthDataset | str, architecture: str, latent_dim: int,
    settings: Mapping[str, Any], init_seeds: Iterable[int] = DEFAULT_INIT_SEEDS,
    data_root: str | None = None, device: str = "cpu", n_jobs: int | None = None,
) -> dict[int, Scores]:
    """Scores of the untrained model per init seed: ``{seed: {metric key: value}}``.

    Seed ``s`` gives the weights trial seed ``s`` starts from (same stream, same
    factory), scored like a trained model on the same evaluation sample."""
    from lvae.evaluate import evaluate_loaded

    canonical = canonical_settings(settings)
    seeds = [_as_int(s) for s in init_seeds]
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"init_seeds must be non-negative integers, at least one; got {seeds}")
    latent_dim = check_positive_int(_as_int(latent_dim), "latent_dim")
    data = _open(dataset, data_root)
    out: dict[int, Scores] = {}
    for seed in seeds:
        model = initial_model(architecture, data.observation_shape[0], latent_dim, seed)
        model.to(device).eval()
        values = evaluate_loaded(
            None, model, data, canonical["metrics"], num_train=canonical["num_train"],
            num_test=canonical["num_test"], seed=canonical["seed"],
            representation=canonical["representation"], write=False, **_options(canonical, n_jobs),
        )
        out[seed] = {k: float(v) for k, v in values.items()}
    return out


class FactorCodes(GroundTruthDataset):
    """A dataset whose "observations" are its varying factors' class indices (float).

    With the identity encoder, the codes are the ground truth. Factor draws and any
    random numbers the wrapped dataset's observation sampler consumes are unchanged, so
    the sampler draws the same factors as for a trained model."""

    def __init__(self, inner: GroundTruthDataset) -> None:
        self.inner = inner
        self.name = f"{inner.name}:factors"
        self.factor_names = tuple(inner.factor_names)
        self.factor_sizes = tuple(inner.factor_sizes)
        self.keep = nonconstant_factor_columns(inner)
        self.observation_shape = inner.observation_shape
        base = GroundTruthDataset.sample_observations_from_factors
        self._draws = type(inner).sample_observations_from_factors is not base

    def observations(self, indices: np.ndarray) -> np.ndarray:
        return self.factors_of(indices)[:, self.keep].astype(np.float64)

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        if self._draws:  # consume the stream exactly as the real observations would
            self.inner.sample_observations_from_factors(factors, rng)
        return np.asarray(factors)[:, self.keep].astype(np.float64)


def _identity(codes: np.ndarray) -> np.ndarray:
    return np.asarray(codes, dtype=np.float64)


def ceiling_scores(
    dataset: GroundTruthDataset | str, settings: Mapping[str, Any],
    data_root: str | None = None, n_jobs: int | None = None,
) -> Scores:
    """Scores of the ground-truth factors as codes: one code per factor with more than one
    class (constant factors are dropped, as the sampler drops them from the factors),
    valued by its class index, so categorical factors (dSprites' shape) keep an arbitrary
    order. Mean and sampled codes are the same here (no posterior)."""
    from lvae.metrics.registry import compute_many, metric_options

    canonical = canonical_settings(settings)
    data = FactorCodes(_open(dataset, data_root))
    if data.keep.size == 0:
        raise ValueError(f"dataset {data.inner.name!r} has no factor with more than one class")
    values = compute_many(
        canonical["metrics"], data, _identity, seed=canonical["seed"],
        num_train=canonical["num_train"], num_test=canonical["num_test"],
        options=metric_options(canonical["metrics"], **_options(canonical, n_jobs)),
    )
    return {k: float(v) for k, v in values.items()}
