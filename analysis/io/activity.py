"""Active units (Var_x of the posterior mean, lvae.metrics.activity) for trials whose sweep
did not score them: folders written before the ``active_units`` metric existed.

A sweep that evaluates ``active_units`` records ``metric.active_units`` in results.csv and
it is read as it is; here the same count is computed from each finished trial's checkpoint
on a seeded sample of its dataset (docs/metrics.md, "Active units").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.io.model_io import LoadRun, default_load_run, encode_with_kl, has_checkpoint
from analysis.io.table import ACTIVE_UNITS, completed
from lvae.contract import ACTIVE_UNITS_KEY

#: observations encoded per model when the sweep did not score active units
NUM_SAMPLES = 2000


def fill_active_units(df: pd.DataFrame, num_samples: int = NUM_SAMPLES, seed: int = 0,
                      load_run: LoadRun | None = None) -> pd.DataFrame:
    """``df`` with ``metric.active_units`` for finished trials that lack it and left a
    checkpoint; the others keep what they have (NaN when nothing can be computed)."""
    out = df.copy()
    if ACTIVE_UNITS not in out.columns:
        out[ACTIVE_UNITS] = np.nan
    todo = completed(out)
    todo = todo[todo[ACTIVE_UNITS].isna() & todo["run_dir"].map(has_checkpoint).astype(bool)]
    if todo.empty:
        return out
    from lvae.metrics.activity import active_units  # lazily: lvae.metrics loads scikit-learn

    load_run = load_run or default_load_run()
    for i, run_dir in todo["run_dir"].items():
        loaded = load_run(run_dir)
        _, obs = loaded.dataset.sample(num_samples, np.random.default_rng(seed))
        codes, _ = encode_with_kl(loaded.model, obs)
        out.at[i, ACTIVE_UNITS] = active_units(codes)[ACTIVE_UNITS_KEY]
    return out
