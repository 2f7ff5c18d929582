"""The metric registry is the one list of metric names and of the settings each takes.

Other places choose among its names (headline order, presets, the stability study); those
choices are checked here against the keys the metrics really produce, so a renamed metric
or key fails here instead of silently dropping a column from a report.
"""

from __future__ import annotations

import pytest
from helpers.metrics import FAST, TinyDataset, identity_encoder

from lvae.contract import METRIC_PREFIX
from lvae.evaluate import build_parser
from lvae.metrics.dci import PROBES
from lvae.metrics.registry import (
    METRICS,
    MetricSpec,
    check_metric_names,
    compute_many,
    metric_options,
    setting_default,
    setting_targets,
)


@pytest.fixture(scope="module")
def produced() -> set[str]:
    """Every result key the registered metrics produce (computed on a tiny dataset)."""
    return set(compute_many(list(METRICS), TinyDataset(), identity_encoder, 0, 200, 100,
                            options=FAST))


def test_settings_are_declared_once_per_metric() -> None:
    assert setting_targets() == {
        "num_bins": (("mig", "modularity"), "num_bins"),
        "dci_probe": (("dci",), "probe"),
        "n_jobs": (("dci",), "n_jobs"),
    }
    assert setting_default("num_bins") == 20 and setting_default("dci_probe") == "gbt"
    for name, spec in METRICS.items():
        assert set(spec.settings.values()) <= spec.options, name


def test_a_new_metric_is_its_registry_entry(monkeypatch) -> None:
    """Registering a metric is enough for the CLI, option routing and re-scoring."""
    from analysis.studies.rescoring import affected

    spec = MetricSpec(frozenset({"num_bins"}), from_arrays=lambda arrays, seed,
                      num_bins=20: {"toy": 1.0},
                      needs_test=False, settings={"num_bins": "num_bins"})
    monkeypatch.setitem(METRICS, "toy", spec)
    check_metric_names(["toy", "mig"])
    assert metric_options(["toy", "dci"], num_bins=7, dci_probe="hgb") == {
        "toy": {"num_bins": 7}, "dci": {"probe": "hgb"}}
    assert "toy" in build_parser().format_help()
    reference = {"metrics": ["toy", "dci"], "num_bins": 20}
    assert affected({**reference, "num_bins": 10}, reference) == ["toy"]


def test_report_choices_name_produced_keys(produced) -> None:
    from analysis.io.table import HEADLINE_METRICS, LOWER_IS_BETTER
    from analysis.report import evidence_sections as report_evidence
    from analysis.stats.agreement import AGREEMENT_COLUMNS
    from analysis.studies import stability

    chosen = {*HEADLINE_METRICS, *report_evidence.HEADLINE_BASES, *report_evidence.CURVE_METRICS,
              *(c for c in AGREEMENT_COLUMNS if c not in LOWER_IS_BETTER)}
    assert {m[len(METRIC_PREFIX):] for m in chosen} <= produced, sorted(chosen)
    assert all(m.startswith(METRIC_PREFIX) for m in chosen)
    base = stability.BASE_SETTINGS
    assert set(base["metrics"]) <= set(METRICS)
    assert {"num_bins", "dci_probe"} & set(base) <= set(setting_targets())


def test_sweep_choices_name_registered_metrics(produced) -> None:
    from sweeps.cli import OPTUNA_METRICS_DEFAULT
    from sweeps.presets import PRESETS

    assert OPTUNA_METRICS_DEFAULT[len(METRIC_PREFIX):] in produced
    for preset in PRESETS.values():
        assert set(preset.metrics) <= set(METRICS), preset.name
        assert set(preset.eval_options) <= set(setting_targets()), preset.name
        assert preset.eval_options.get("dci_probe", "gbt") in PROBES, preset.name


def test_test_fixtures_name_only_produced_keys(produced) -> None:
    from helpers.analysis_fixtures import ALL_METRICS

    assert set(ALL_METRICS) <= produced
