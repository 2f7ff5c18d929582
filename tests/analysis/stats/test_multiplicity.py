"""Multiplicity: Holm and BH equal statsmodels' on random p-values, NaN passes through
uncounted, families get their declared method, primary rows are the declared ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from analysis.stats.multiplicity import (
    CURVE,
    EXPLORATORY,
    PRIMARY,
    TWIN,
    adjust,
    adjust_families,
    declare_primary,
    endpoint_key,
    family_method,
)

SIMS = 400


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_matches_statsmodels_on_random_p_values(ours, theirs, monkeypatch):
    # statsmodels' Holm calls gc.collect() on every call (40-100 ms); not what is compared
    monkeypatch.setattr("gc.collect", lambda *args: 0)
    rng = np.random.default_rng(1)
    for _ in range(SIMS):
        n = int(rng.integers(1, 30))
        p = rng.uniform(size=n) ** rng.uniform(0.5, 4)  # some families with small p-values
        np.testing.assert_allclose(adjust(p, ours), multipletests(p, method=theirs)[1])
    ties = np.array([0.01, 0.01, 0.04, 0.04, 0.5, 1.0])
    np.testing.assert_allclose(adjust(ties, ours), multipletests(ties, method=theirs)[1])


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_nan_passes_through_and_is_not_counted(method):
    rng = np.random.default_rng(2)
    for _ in range(SIMS):
        p = rng.uniform(size=12)
        gaps = rng.uniform(size=12) < 0.3
        p_nan = np.where(gaps, np.nan, p)
        got = adjust(p_nan, method)
        assert np.isnan(got[gaps]).all()
        if (~gaps).any():
            np.testing.assert_allclose(got[~gaps], adjust(p[~gaps], method))
    assert np.isnan(adjust([np.nan, np.nan], method)).all()
    assert adjust([], method).shape == (0,)


def test_holm_controls_familywise_error_and_bh_is_less_strict():
    rng = np.random.default_rng(3)
    p = rng.uniform(size=(4000, 8))  # every hypothesis true
    any_holm = np.mean([(adjust(row, "holm") < 0.05).any() for row in p])
    assert any_holm <= 0.06, any_holm
    q = np.array([adjust(row, "bh") for row in p[:SIMS]])
    holm = np.array([adjust(row, "holm") for row in p[:SIMS]])
    assert (q <= holm + 1e-12).all()


def test_families_get_their_declared_method():
    rng = np.random.default_rng(4)
    table = pd.DataFrame({
        "family": [PRIMARY] * 4 + ["exploratory: headline"] * 5 + ["exploratory: controls"] * 3,
        "p": rng.uniform(size=12)})
    table.loc[[2, 7], "p"] = np.nan
    out = adjust_families(table)
    prim = out["family"] == PRIMARY
    np.testing.assert_allclose(out.loc[prim, "p_holm"], adjust(table.loc[prim, "p"], "holm"),
                               equal_nan=True)
    assert out.loc[prim, "q_bh"].isna().all() and (out.loc[prim, "adjustment"] == "holm").all()
    for name in ("exploratory: headline", "exploratory: controls"):
        rows = out["family"] == name
        np.testing.assert_allclose(out.loc[rows, "q_bh"], adjust(table.loc[rows, "p"], "bh"),
                                   equal_nan=True)
        assert out.loc[rows, "p_holm"].isna().all()
    assert list(out["n_family"]) == [3] * 4 + [4] * 5 + [3] * 3
    assert list(table.columns) == ["family", "p"], "the input table is not changed"
    forced = adjust_families(table, methods={"exploratory: controls": "holm"})
    assert forced.loc[forced["family"] == "exploratory: controls", "p_holm"].notna().all()
    with pytest.raises(ValueError, match="unknown method"):
        adjust_families(table, methods={PRIMARY: "bonferroni"})
    assert family_method(PRIMARY) == "holm" and family_method("anything") == "bh"


def test_declare_primary_labels_the_declared_endpoints_and_contrasts():
    table = pd.DataFrame({
        "metric": ["metric.mig", "dci.disentanglement", "metric.dci.completeness", "mig",
                   "metric.mig"],
        "contrast": [TWIN, CURVE, TWIN, "beta=4 vs VAE", CURVE]})
    out = declare_primary(table, prefix="metric.")
    assert list(out["family"]) == [PRIMARY, PRIMARY, EXPLORATORY, EXPLORATORY, PRIMARY]
    named = declare_primary(table, endpoints=("metric.dci.completeness",), contrasts=(TWIN,),
                            secondary="exploratory: twin table", prefix="metric.")
    assert list(named["family"]) == ["exploratory: twin table"] * 2 + [PRIMARY] + \
        ["exploratory: twin table"] * 2
    assert endpoint_key("metric.mig", "metric.") == "mig"
    assert endpoint_key("mig", "metric.") == "mig"


def test_q_values_leave_uncounted_rows_out_of_the_family():
    """Leave-one-seed-out rows reuse the same seed pairs: they get no q-value and do not
    enlarge the family the others are adjusted in."""
    from statsmodels.stats.multitest import multipletests

    from analysis.stats.multiplicity import add_q_values, q_reading

    rng = np.random.default_rng(4)
    table = pd.DataFrame({"comparison": ["beta=1", "beta=2", "best", "median", "beta=4"],
                          "p_value": rng.uniform(0, 0.2, size=5)})
    counted = ~table["comparison"].isin(["best", "median"])
    out = add_q_values(table, counted)
    expected = multipletests(table.loc[counted, "p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(out.loc[counted, "q_bh"], expected)
    assert out.loc[~counted, "q_bh"].isna().all()
    assert q_reading(out).startswith(f"exploratory: {int((expected < 0.05).sum())} of 3 "
                                     "comparisons")
