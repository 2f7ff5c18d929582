"""Named metrics behind one call: ``compute(name, dataset, encode, seed, num_train, num_test)``.

Each entry says how to get its inputs from a dataset and an encoder. The array metrics
(mig, dci, sap, modularity) score codes sampled with :func:`~lvae.metrics.utils.sample_train_test`
(train set first, then test set, from one ``default_rng(seed)`` stream), so with the same
seed they all see the same points, and :func:`compute_many` samples them once. The
sampling metrics (factor_vae, beta_vae) draw their own batches; for them ``num_test``
is the number of evaluation points (``num_eval``).

Result keys are namespaced by :func:`namespaced`: ``"<metric>.<key>"``, or just the
metric name where the key equals it (``"mig"``, ``"sap"``, ``"modularity"``).

Each entry also names the evaluation settings it takes (``lvae.evaluate``'s flat options,
``TrainConfig.eval_options``), so a new metric is its module plus one entry here; the
evaluation CLI, the sweeps' provenance columns and the analysis' re-scoring read them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lvae.metrics.activity import active_units
from lvae.metrics.beta_vae import beta_vae_score
from lvae.metrics.dci import dci
from lvae.metrics.factor_vae import factor_vae_score
from lvae.metrics.mig import mig
from lvae.metrics.modularity import modularity_explicitness
from lvae.metrics.sap import sap
from lvae.metrics.utils import Encoder, as_generator, check_positive_int, sample_train_test

#: codes_train, factors_train, codes_test, factors_test (the test pair may be None)
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is computed; ``options`` are the keyword arguments it accepts."""

    options: frozenset[str]
    #: array metrics: (arrays, seed, **options) -> scores
    from_arrays: Callable[..., dict[str, Any]] | None = None
    needs_test: bool = True
    #: sampling metrics: (dataset, encode, seed, num_train, num_test, **options) -> scores
    from_dataset: Callable[..., dict[str, Any]] | None = None
    #: evaluation setting (a flat option shared by metrics) -> this metric's keyword for it
    settings: Mapping[str, str] = field(default_factory=dict)
    #: settings that change only the speed, never a score
    speed_only: frozenset[str] = frozenset()
    #: the keys of the scores it returns (before :func:`namespaced`); checked against what
    #: it computes by tests/lvae/metrics/test_sampling.py
    keys: tuple[str, ...] = ()

    @property
    def compute_fn(self) -> Callable[..., dict[str, Any]]:
        return self.from_arrays if self.from_arrays is not None else self.from_dataset  # type: ignore[return-value]


def _active_units(arrays: Arrays, seed: int) -> dict[str, Any]:
    return active_units(arrays[0])


def _mig(arrays: Arrays, seed: int, num_bins: int = 20) -> dict[str, Any]:
    return mig(arrays[0], arrays[1], num_bins=num_bins)


def _dci(arrays: Arrays, seed: int, probe: str = "gbt",
         n_jobs: int | None = None) -> dict[str, Any]:
    return dci(*arrays, probe=probe, seed=seed, n_jobs=n_jobs)


def _sap(arrays: Arrays, seed: int) -> dict[str, Any]:
    return sap(*arrays, seed=seed)


def _modularity(arrays: Arrays, seed: int, num_bins: int = 20) -> dict[str, Any]:
    return modularity_explicitness(*arrays, num_bins=num_bins)


def _factor_vae(dataset, encode, seed, num_train, num_test, **options) -> dict[str, Any]:
    return factor_vae_score(dataset, encode, seed, num_train=num_train, num_eval=num_test,
                            **options)


def _beta_vae(dataset, encode, seed, num_train, num_test, **options) -> dict[str, Any]:
    return beta_vae_score(dataset, encode, seed, num_train=num_train, num_eval=num_test, **options)


_EB = "encode_batch_size"
_BINS = {"num_bins": "num_bins"}
METRICS: dict[str, MetricSpec] = {
    "active_units": MetricSpec(frozenset({_EB}), from_arrays=_active_units, needs_test=False,
                               keys=("active_units",)),
    "mig": MetricSpec(
        frozenset({"num_bins", _EB}), from_arrays=_mig, needs_test=False, settings=_BINS,
        keys=("mig",),
    ),
    "dci": MetricSpec(
        frozenset({"probe", "n_jobs", _EB}), from_arrays=_dci,
        settings={"dci_probe": "probe", "n_jobs": "n_jobs"}, speed_only=frozenset({"n_jobs"}),
        keys=("disentanglement", "completeness", "informativeness_train", "informativeness_test"),
    ),
    "sap": MetricSpec(frozenset({_EB}), from_arrays=_sap, keys=("sap",)),
    "modularity": MetricSpec(frozenset({"num_bins", _EB}), from_arrays=_modularity, settings=_BINS,
                             keys=("modularity", "explicitness", "explicitness_train")),
    "factor_vae": MetricSpec(
        frozenset({"batch_size", "num_variance_estimate", "prune_std", _EB}),
        from_dataset=_factor_vae, keys=("train_accuracy", "eval_accuracy", "num_active_dims"),
    ),
    "beta_vae": MetricSpec(frozenset({"batch_size", _EB}), from_dataset=_beta_vae,
                           keys=("train_accuracy", "eval_accuracy")),
}


def metric_names() -> list[str]:
    return sorted(METRICS)


def check_metric_names(metrics: Sequence[str]) -> None:
    """Refuse an unknown metric name, or no metric at all."""
    unknown = [m for m in metrics if m not in metric_names()]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; valid metrics: {', '.join(metric_names())}")
    if not metrics:
        raise ValueError("no metrics requested")


def metric_options(metrics: Sequence[str], **options: Any) -> dict[str, dict[str, Any]]:
    """Spread flat representation choices over the metrics that take them (each metric's
    entry names the settings it takes: :func:`setting_targets`)."""
    option_targets = setting_targets()
    unknown = sorted(set(options) - set(option_targets))
    if unknown:
        raise ValueError(f"unknown evaluation option(s) {unknown}; valid: {sorted(option_targets)}")
    out: dict[str, dict[str, Any]] = {}
    for key, value in options.items():
        targets, keyword = option_targets[key]
        for name in metrics:
            if name in targets and value is not None:
                out.setdefault(name, {})[keyword] = value
    return out


def result_keys(names: Iterable[str]) -> list[str]:
    """The namespaced keys computing the metrics ``names`` yields (``dci.disentanglement``,
    ``mig``, ...), in order; what a sweep can report and optimise."""
    return [key for name in names for key in namespaced(name, dict.fromkeys(METRICS[name].keys))]


def setting_targets() -> dict[str, tuple[tuple[str, ...], str]]:
    """Each evaluation setting -> (the metrics that take it, their keyword for it)."""
    out: dict[str, tuple[tuple[str, ...], str]] = {}
    for name, spec in METRICS.items():
        for setting, keyword in spec.settings.items():
            names, known = out.get(setting, ((), keyword))
            if known != keyword:
                raise ValueError(f"setting {setting!r} is {known!r} for {names} but {keyword!r} "
                                 f"for {name!r}")
            out[setting] = ((*names, name), keyword)
    return out


def score_settings() -> dict[str, frozenset[str]]:
    """Each evaluation setting -> the metrics whose scores it can change."""
    return {
        setting: frozenset(n for n in names if setting not in METRICS[n].speed_only)
        for setting, (names, _) in setting_targets().items()
    }


def setting_default(setting: str) -> Any:
    """The default a setting takes where it is not given: the first metric's own default."""
    names, keyword = setting_targets()[setting]
    return inspect.signature(METRICS[names[0]].compute_fn).parameters[keyword].default


def _spec(name: str, options: Mapping[str, Any]) -> MetricSpec:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; valid metrics: {', '.join(metric_names())}")
    spec = METRICS[name]
    unknown = sorted(set(options) - spec.options)
    if unknown:
        raise ValueError(
            f"metric {name!r} got unknown option(s) {unknown}; valid options: "
            f"{sorted(spec.options)}"
        )
    return spec


def compute(
    name: str,
    dataset,
    encode: Encoder,
    seed: int,
    num_train: int,
    num_test: int,
    **options: Any,
) -> dict[str, Any]:
    """Scores of metric ``name`` under its own keys (see :func:`namespaced`)."""
    spec = _spec(name, options)
    num_train = check_positive_int(num_train, "num_train")
    num_test = check_positive_int(num_test, "num_test")
    as_generator(seed)  # validates the seed before any sampling
    if spec.from_dataset is not None:
        return spec.from_dataset(dataset, encode, seed, num_train, num_test, **options)
    opts = dict(options)
    encode_batch_size = check_positive_int(opts.pop(_EB, 1000), _EB)
    arrays = sample_train_test(
        dataset, encode, seed, num_train, num_test if spec.needs_test else None, encode_batch_size
    )
    return spec.from_arrays(arrays, seed, **opts)


def namespaced(name: str, scores: Mapping[str, Any]) -> dict[str, Any]:
    """``{"dci.disentanglement": ...}``; a key equal to the metric name stays bare."""
    return {(key if key == name else f"{name}.{key}"): value for key, value in scores.items()}


def compute_many(
    names: Iterable[str],
    dataset,
    encode: Encoder,
    seed: int,
    num_train: int,
    num_test: int,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    encode_batch_size: int = 1000,
) -> dict[str, Any]:
    """Namespaced scores of several metrics; the array metrics share one sample.

    ``options`` maps a metric name to its keyword options. Gives the same numbers as
    calling :func:`compute` for each name with the same seed.
    """
    names = list(names)
    options = dict(options or {})
    extra = sorted(set(options) - set(names))
    if extra:
        raise ValueError(f"options given for metric(s) {extra}, which are not in {names}")
    specs = {name: _spec(name, options.get(name, {})) for name in names}
    for name in names:
        if _EB in options.get(name, {}):
            raise ValueError(f"pass encode_batch_size to compute_many, not in options[{name!r}]")
    num_train = check_positive_int(num_train, "num_train")
    num_test = check_positive_int(num_test, "num_test")
    encode_batch_size = check_positive_int(encode_batch_size, _EB)
    as_generator(seed)
    array_names = [n for n in names if specs[n].from_arrays is not None]
    arrays: Arrays | None = None
    if array_names:
        need_test = any(specs[n].needs_test for n in array_names)
        arrays = sample_train_test(
            dataset, encode, seed, num_train, num_test if need_test else None, encode_batch_size
        )
    out: dict[str, Any] = {}
    for name in names:
        spec, opts = specs[name], dict(options.get(name, {}))
        if spec.from_arrays is not None:
            scores = spec.from_arrays(arrays, seed, **opts)
        else:
            scores = spec.from_dataset(
                dataset, encode, seed, num_train, num_test, encode_batch_size=encode_batch_size,
                                       **opts
            )
        out.update(namespaced(name, scores))
    return out
