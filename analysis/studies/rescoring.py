"""Re-score trained models under several metric settings from one encoding per sample.

The stability section asks how the models' ranking moves when an evaluation setting
changes. Scoring every (model, setting) with ``lvae.evaluate.evaluate_run`` loads the
model, draws and encodes the observations and fits every metric again; the DCI probe
fits dominate (measured in docs/analysis.md, "Report cost"). Here each model is loaded once, each
distinct
sample (``seed``, ``num_train``, ``num_test``) is encoded once, keeping the posterior
means and log-variances so sampled codes need no second pass, a setting recomputes only
the metrics it changes (bins change MIG and modularity, not DCI), and the metric fits
run in parallel over cores. The numbers are the ones ``evaluate_run`` gives for the same
setting: same sample, same encoder batches, same noise stream for sampled codes
(``tests/analysis/test_rescoring.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from analysis.io.model_io import LoadRun, default_load_run

#: keys of a setting that choose the sample of observations (each distinct sample is encoded once)
SAMPLE_KEYS = ("seed", "num_train", "num_test")
#: keys that are not metric options (everything else goes to lvae.metrics.registry.metric_options)
NOT_OPTIONS = frozenset({"metrics", "representation", *SAMPLE_KEYS})
#: the encoder batch of lvae.evaluate (compute_many's encode_batch_size and make_encoder's batch)
BATCH = 1000

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def affected(setting: Mapping[str, Any], reference: Mapping[str, Any]) -> list[str]:
    """The metrics of ``setting`` whose value can differ from the reference's (all of them
    for the reference itself): the others would only repeat the reference's numbers. An
    evaluation setting changes the metrics the registry says it can
    (lvae.metrics.registry.score_settings); any other key (sample, seed) changes every metric.
    The metric list itself is what is asked, not a setting: it changes no score."""
    from lvae.metrics.registry import score_settings

    metrics = list(setting["metrics"])
    changed = [k for k in sorted(set(setting) | set(reference))
               if k != "metrics" and setting.get(k) != reference.get(k)]
    if not changed:
        return metrics
    affects = score_settings()
    hit: set[str] = set()
    for key in changed:
        hit |= affects.get(key, frozenset(metrics))
    return [m for m in metrics if m in hit]


@dataclass
class EncodedSample:
    """One sample's factors, posterior means and the encoder's (mu, logvar) per batch."""

    factors_train: np.ndarray
    factors_test: np.ndarray
    codes_train: np.ndarray
    codes_test: np.ndarray
    batches: list[tuple[Any, Any]]  # torch tensors, in the order they were encoded

    def arrays(self, representation: str, seed: int) -> Arrays:
        """(codes_train, factors_train, codes_test, factors_test) for mean or sampled codes."""
        if representation == "mean":
            return self.codes_train, self.factors_train, self.codes_test, self.factors_test
        if representation != "sampled":
            raise ValueError(f"representation must be 'mean' or 'sampled', got {representation!r}")
        codes = sampled_codes(self.batches, seed)
        n = len(self.codes_train)
        return codes[:n], self.factors_train, codes[n:], self.factors_test


def sampled_codes(batches: Sequence[tuple[Any, Any]], seed: int) -> np.ndarray:
    """mu + noise * exp(logvar / 2), the noise drawn batch by batch from one generator
    seeded with ``seed``: exactly lvae.evaluate.make_encoder's sampled codes."""
    import torch

    from lvae.metrics.utils import check_codes

    device = batches[0][0].device
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    parts = [(mu + torch.randn(mu.shape, generator=gen, device=device) * torch.exp(0.5 * logvar))
             .float().cpu().numpy() for mu, logvar in batches]
    return check_codes(np.concatenate(parts), "sampled codes")


def encode_sample(model: Any, dataset: Any, seed: int, num_train: int,
                  num_test: int) -> EncodedSample:
    """Draw the sample lvae.metrics draws for this seed and sizes, and encode it once."""
    import torch

    from lvae.metrics.utils import sample_train_test

    device = next(model.parameters()).device
    batches: list[tuple[Any, Any]] = []

    @torch.no_grad()
    def encode(obs: np.ndarray) -> np.ndarray:
        mu, logvar = model.encode(torch.from_numpy(np.ascontiguousarray(obs)).to(device))
        batches.append((mu, logvar))
        return mu.float().cpu().numpy()

    model.eval()
    ctr, ftr, cte, fte = sample_train_test(dataset, encode, seed, num_train, num_test, BATCH)
    return EncodedSample(ftr, fte, ctr, cte, batches)


def _score(name: str, arrays: Arrays, seed: int, options: Mapping[str, Any]) -> dict[str, float]:
    from lvae.metrics.registry import METRICS, namespaced

    return {k: float(v) for k,
            v in namespaced(name, METRICS[name].from_arrays(arrays, seed, **options)).items()}


def _check_array_metrics(settings: Mapping[str, Mapping[str, Any]]) -> None:
    from lvae.metrics.registry import METRICS

    arrays = [m for m, spec in METRICS.items() if spec.from_arrays is not None]
    for name, s in settings.items():
        bad = [m for m in s["metrics"] if m not in arrays]
        if bad:
            raise ValueError(f"setting {name!r}: re-scoring from codes supports the array metrics "
                             f"({', '.join(arrays)}), not {bad}; pass evaluate= to score them")


def _tasks(trial: str, samples: Mapping[tuple, EncodedSample],
           settings: Mapping[str, Mapping[str, Any]],
           reference: Mapping[str, Any]) -> list[tuple[str, str, str, Arrays, int, dict[str, Any]]]:
    """(trial, setting, metric, arrays, seed, options) for every metric a setting changes."""
    from lvae.metrics.registry import metric_options

    out = []
    for name, s in settings.items():
        metrics = affected(s, reference)
        options = metric_options(metrics, **{**{k: v for k, v in s.items() if k not in NOT_OPTIONS},
                                             "n_jobs": 1})
        sample = samples[tuple(s[k] for k in SAMPLE_KEYS)]
        arrays = sample.arrays(s.get("representation", "mean"), s["seed"])
        out += [(trial, name, m, arrays, s["seed"], options.get(m, {})) for m in metrics]
    return out


def rescore(
    run_dirs: Mapping[str, str | os.PathLike],
    settings: Mapping[str, Mapping[str, Any]],
    load_run: LoadRun | None = None,
    n_jobs: int | None = None,
    reference: str = "reference",
) -> pd.DataFrame:
    """Long table (trial, setting, metric, value): each model under each setting, only the
    metric keys a setting changes (see :func:`affected`). ``n_jobs``: parallel metric fits
    (None: every core)."""
    if reference not in settings:
        raise ValueError(
            f"settings need a {reference!r} entry to compare with; got {sorted(settings)}"
        )
    _check_array_metrics(settings)
    load_run = load_run or default_load_run()
    keys = sorted({tuple(s[k] for k in SAMPLE_KEYS) for s in settings.values()})
    tasks = []
    for trial, run_dir in run_dirs.items():
        loaded = load_run(run_dir)
        samples = {k: encode_sample(loaded.model, loaded.dataset, *k) for k in keys}
        tasks += _tasks(trial, samples, settings, settings[reference])
    tasks.sort(key=lambda t: t[2] != "dci")  # the slow fits first: fewer idle cores at the end
    jobs = -1 if n_jobs is None else n_jobs
    values = Parallel(n_jobs=jobs)(
        delayed(_score)(m, arrays, seed, opts) for _, _, m, arrays, seed, opts in tasks
    )
    rows = [
        {"trial": trial, "setting": setting, "metric": key, "value": v}
        for (trial, setting, *_), scores in zip(tasks, values, strict=True)
        for key, v in scores.items()
    ]
    out = pd.DataFrame(rows, columns=["trial", "setting", "metric", "value"])
    order = {name: i for i, name in enumerate(settings)}
    return out.sort_values(
        ["trial", "setting"],
        key=lambda c: c.map(order) if c.name == "setting" else c,
        kind="stable",
    ).reset_index(drop=True)
