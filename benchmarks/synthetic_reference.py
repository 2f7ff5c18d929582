"""The metric_reference cache a paper-preset sweep leaves in its folder, for the synthetic study.

A sweep scores the metrics' floor and ceiling on its cluster once results.csv is complete
(sweeps/floor.py): at the paper preset each untrained encoder costs a trial's evaluation, far
beyond the report's budget on a laptop. So the synthetic study carries that cache too, as
analysis.studies.reference writes it (its own row builder and keys), with seeded values: the
floor near each metric's low end (five init seeds), the ceiling near its top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.io.files import write_csv_atomic
from analysis.io.load import load_experiments
from analysis.io.table import completed
from analysis.studies import reference as ref
from benchmarks.synthetic_trial import LATENTS, METRIC_RANGES
from lvae.contract import METRIC_PREFIX


def _scores(keys: list[str], rng: np.random.Generator, where: float) -> dict[str, float]:
    """Values ``where`` of the way up each key's synthetic range (with a little noise)."""
    out = {}
    for key in keys:
        lo, hi = METRIC_RANGES.get(key, (0.0, float(LATENTS)))  # the rest count latents
        out[key] = float(lo + (hi - lo) * np.clip(where + rng.normal(0.0, 0.02), 0.0, 1.0))
    return out


def write_reference(exp_dir: Path, seed: int = 0) -> Path:
    """Write ``<exp_dir>/metric_reference/metric_reference.csv`` for every group of the
    folder's results.csv; returns its path."""
    trials = load_experiments(exp_dir)
    done = completed(trials)
    keys = [c[len(METRIC_PREFIX):] for c in done.columns
            if c.startswith(METRIC_PREFIX) and done[c].notna().any()]
    groups = list(dict.fromkeys(ref.trial_groups(trials)))
    rows = []
    for i, group in enumerate(groups):
        rng = np.random.default_rng([seed, 5, i])
        families = group.settings_dict()["metrics"]
        mine = [k for k in keys if k.split(".")[0] in families]
        floor = {s: _scores(mine, rng, 0.05) for s in ref.INIT_SEEDS}
        rows.append(ref.reference_rows(group, families, ref.INIT_SEEDS, floor,
                                       _scores(mine, rng, 0.97)))
    path = ref.cache_path(exp_dir)
    write_csv_atomic(path, pd.concat(rows, ignore_index=True))
    return path
