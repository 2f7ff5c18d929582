"""Multiple comparisons: which comparisons are primary, and adjusted p-values per family.

A paper's claims rest on a few primary comparisons declared in advance (by default MIG and
DCI disentanglement, for L-VAE against its beta-matched twin and against the fixed-beta
curve). They form one family whose p-values are Holm-adjusted: the chance of any false
claim among them stays at the level, whatever their dependence (they share seeds). Every
other table is exploratory: each is a family of its own with Benjamini-Hochberg q-values,
which bound the expected share of false findings among those read as findings
(docs/statistics.md, "Multiplicity"). BH is statsmodels' ``multipletests``; Holm is the
same arithmetic written out, because statsmodels' Holm runs ``gc.collect()`` on every call
(40-100 ms here, against 0.1 ms for BH); the tests check the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

PRIMARY = "primary"
EXPLORATORY = "exploratory"
#: the contrasts the paper's claims rest on
TWIN = "L-VAE vs its beta-matched twin"
CURVE = "L-VAE vs the fixed-beta curve"
PRIMARY_CONTRASTS = (TWIN, CURVE)
#: metric keys of the primary endpoints (without the results table's ``metric.`` prefix)
PRIMARY_ENDPOINTS = ("mig", "dci.disentanglement")
#: our method names -> statsmodels'
METHODS = {"holm": "holm", "bh": "fdr_bh"}
COLUMNS = {"holm": "p_holm", "bh": "q_bh"}


def adjust(p: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Holm (``"holm"``) or Benjamini-Hochberg (``"bh"``) adjusted p-values of one family.

    NaN p-values (comparisons that could not be made) stay NaN and do not count towards
    the family's size.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        fit = _holm if method == "holm" else lambda x: multipletests(x, method=METHODS[method])[1]
        out[ok] = fit(p[ok])
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: the i-th smallest p times (m - i + 1), made monotone."""
    order = np.argsort(p)
    steps = np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1))
    out = np.empty_like(p)
    out[order] = np.minimum(steps, 1.0)
    return out


def family_method(family: str, methods: Mapping[str, str] | None = None) -> str:
    """The declared method of a family: ``methods[family]``, else Holm for the primary
    family and BH for any other."""
    if methods and family in methods:
        return methods[family]
    return "holm" if family == PRIMARY else "bh"


def adjust_families(table: pd.DataFrame, family: str = "family", p: str = "p",
                    methods: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``table`` with ``adjustment`` (the family's method), ``n_family`` (its comparisons
    with a p-value), ``p_holm`` and ``q_bh`` added; each row gets only its family's column,
    the other is NaN. A row without a family is left unadjusted."""
    out = table.copy()
    out["adjustment"] = None
    out["n_family"] = 0
    for col in COLUMNS.values():
        out[col] = np.nan
    for name, rows in out.groupby(family, sort=False).groups.items():
        method = family_method(str(name), methods)
        if method not in METHODS:
            raise ValueError(f"family {name!r}: unknown method {method!r}, not one of "
                             f"{sorted(METHODS)}")
        values = out.loc[rows, p].to_numpy(dtype=float)
        out.loc[rows, COLUMNS[method]] = adjust(values, method)
        out.loc[rows, "adjustment"] = method
        out.loc[rows, "n_family"] = int(np.isfinite(values).sum())
    return out


def endpoint_key(metric: str, prefix: str = "") -> str:
    """A metric column's key without the results table's prefix (``metric.mig`` -> ``mig``)."""
    return metric[len(prefix):] if prefix and metric.startswith(prefix) else metric


def declare_primary(table: pd.DataFrame, endpoints: Sequence[str] = PRIMARY_ENDPOINTS,
                    contrasts: Sequence[str] = PRIMARY_CONTRASTS, metric: str = "metric",
                    contrast: str = "contrast", secondary: str = EXPLORATORY,
                    family: str = "family", prefix: str = "") -> pd.DataFrame:
    """``table`` with a ``family`` column: :data:`PRIMARY` where the row's metric is a
    primary endpoint and its contrast a primary contrast, ``secondary`` otherwise.

    Metrics match with or without ``prefix``, the results table's metric prefix
    (``lvae.contract.METRIC_PREFIX``, passed by the caller: this module spells no contract
    name), so ``metric.mig`` and ``mig`` are the same endpoint. Declare the endpoints
    before looking at the results: choosing them after is the selection the correction is
    there to account for.
    """
    keys = {endpoint_key(e, prefix) for e in endpoints}
    is_endpoint = table[metric].map(lambda m: endpoint_key(str(m), prefix) in keys)
    is_primary = is_endpoint & table[contrast].isin(list(contrasts))
    return table.assign(**{family: np.where(is_primary, PRIMARY, secondary)})


def add_q_values(table: pd.DataFrame, counted: pd.Series | None = None, p: str = "p_value",
                 q: str = "q_bh") -> pd.DataFrame:
    """``table`` with Benjamini-Hochberg q-values of the ``counted`` rows as one family (an
    exploratory table); rows not counted (e.g. leave-one-seed-out selections that reuse the
    same seed pairs) get NaN and do not enlarge the family."""
    counted = pd.Series(True, index=table.index) if counted is None else counted
    out = table.copy()
    out[q] = np.nan
    if len(out):
        out.loc[counted, q] = adjust(out.loc[counted, p].to_numpy(dtype=float), "bh")
    return out


def q_reading(table: pd.DataFrame, q: str = "q_bh", alpha: float = 0.05) -> str:
    """How many of a table's counted comparisons stand after Benjamini-Hochberg."""
    counted = table[q].notna()
    found = int((table.loc[counted, q] < alpha).sum())
    return (f"exploratory: {found} of {int(counted.sum())} comparisons have a Benjamini-Hochberg "
            f"q-value below {alpha:g} within this table (q_bh in the CSV, next to the raw p_value)")
