"""Are the metrics themselves stable? Re-score a few trained models under other settings.

(a) :func:`reevaluation_table` runs any ``evaluate(run_dir, **settings) -> {key: value}``
over run folders and settings; (b) :func:`default_evaluate` binds it to
``lvae.evaluate.evaluate_run`` (imported lazily). :func:`rank_stability` then says how
much the ranking of the models moves when a setting changes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from analysis.io.table import HEADLINE_METRICS, completed
from analysis.studies.rescoring import affected
from lvae.contract import HP_PREFIX, TRAINING_HPS

log = logging.getLogger(__name__)
PathLike = str | os.PathLike

Evaluate = Callable[..., Mapping[str, float]]

#: the cheap reference: MIG + DCI with the fast (hgb) probe on 2,000 samples (CPU friendly).
BASE_SETTINGS: dict[str, Any] = {
    "metrics": ("mig", "dci"),
    "num_train": 1500,
    "num_test": 500,
    "seed": 0,
    "representation": "mean",
    "num_bins": 20,
    "dci_probe": "hgb",
}
#: name -> changes to BASE_SETTINGS; "reference" is what the others are compared with.
#: In the order they keep the budgeted metrics when the budget is short (:func:`within_budget`):
#: the evaluation sample's noise first, then the representation, then the sample's size.
VARIATIONS: dict[str, dict[str, Any]] = {
    "reference": {},
    "bins10": {"num_bins": 10},
    "bins50": {"num_bins": 50},
    "eval_seed1": {"seed": 1},
    "sampled_codes": {"representation": "sampled"},
    "samples_half": {"num_train": 750, "num_test": 250},
}
#: disentanglement_lib's probe: slow (minutes per model on CPU), only when asked.
PARITY_PROBE = {"probe_gbt": {"dci_probe": "gbt"}}


def settings_for(
    variations: Mapping[str, Mapping[str, Any]] | None = None,
    base: Mapping[str, Any] | None = None, parity_probe: bool = False,
) -> dict[str, dict[str, Any]]:
    """Full keyword sets per setting name (base updated by each variation)."""
    variations = dict(VARIATIONS if variations is None else variations)
    if parity_probe:
        variations.update(PARITY_PROBE)
    if "reference" not in variations:
        raise ValueError("settings need a 'reference' entry to compare with; got "
                         f"{sorted(variations)}")
    base = dict(BASE_SETTINGS if base is None else base)
    return {name: {**base, **change} for name, change in variations.items()}


def capped_settings(num_train: float | None = None, num_test: float | None = None,
                    parity_probe: bool = False) -> dict[str, dict[str, Any]]:
    """:func:`settings_for` with the base sample sizes capped at an experiment's own (when
    smaller: a smoke run scored 400 / 200), ``samples_half`` halving whatever they are."""
    base = dict(BASE_SETTINGS)
    for key, own in (("num_train", num_train), ("num_test", num_test)):
        if own is not None and own == own and int(own) >= 2:  # NaN: not recorded
            base[key] = min(base[key], int(own))
    variations = {**VARIATIONS, "samples_half": {"num_train": base["num_train"] // 2,
                                                 "num_test": base["num_test"] // 2}}
    return settings_for(variations, base, parity_probe)


#: metrics whose re-fits are budgeted: a DCI fit costs about 5 CPU-seconds at 1,500
#: samples (40-class factors, one tree per class per iteration), MIG a fraction of one
BUDGETED = ("dci",)
#: one budgeted fit per this many training samples (steps x batch) the experiment ran:
#: 800 steps at batch 64, about 80 CPU-seconds of conv training per 5 of fitting, so the
#: re-scoring stays a few percent of the sweep at any size (docs/analysis.md, "Report cost")
SAMPLES_PER_FIT = 51_200


def training_samples(trials: pd.DataFrame) -> int:
    """Training samples (steps completed x batch size) over the finished trials; 0 when
    neither is recorded."""
    done = completed(trials)
    batch_col = HP_PREFIX + TRAINING_HPS["batch_size"]
    if "steps" not in done or batch_col not in done:
        return 0
    samples = pd.to_numeric(done["steps"],
                            errors="coerce") * pd.to_numeric(done[batch_col], errors="coerce")
    return int(samples.fillna(0).sum())


def fit_budget(trials: pd.DataFrame) -> int:
    """Budgeted metric fits the experiment's training pays for (see :data:`SAMPLES_PER_FIT`)."""
    return training_samples(trials) // SAMPLES_PER_FIT


def within_budget(
    settings: Mapping[str, Mapping[str, Any]], num_models: int, budget: int,
    candidates: Sequence[str] | None = None, reference: str = "reference",
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``settings`` with the :data:`BUDGETED` metrics kept only where ``budget`` fits pay for
    them, and the names that lost them.

    The reference's fits count first (every comparison needs them). Then each of
    ``candidates`` (default: :data:`VARIATIONS`, in their order) that would refit a
    budgeted metric keeps it while ``num_models`` fits per such metric are left; a setting
    left with nothing it can change is dropped, and the reference drops a metric no other
    setting refits. Settings outside ``candidates`` (an explicit parity probe) are kept whole.
    """
    out = {name: dict(s) for name, s in settings.items()}
    ref = out[reference]
    left = budget - num_models * len([m for m in ref["metrics"] if m in BUDGETED])
    lost = []
    names = VARIATIONS if candidates is None else candidates
    for name in [n for n in names if n in out and n != reference]:
        refits = [m for m in affected(out[name], ref) if m in BUDGETED]
        if not refits or num_models * len(refits) <= left:
            left -= num_models * len(refits)
            continue
        lost.append(name)
        out[name]["metrics"] = tuple(m for m in out[name]["metrics"] if m not in refits)
        if not affected(out[name], ref):
            del out[name]
    for m in BUDGETED:  # a reference fit that nothing is compared with is wasted
        if not any(m in affected(s, ref) for n, s in out.items() if n != reference):
            ref["metrics"] = tuple(k for k in ref["metrics"] if k != m)
    return out, lost


def default_evaluate() -> Evaluate:
    from lvae.evaluate import evaluate_run

    return evaluate_run


def pick_models(
    df: pd.DataFrame,
    k: int = 6,
    by: str = HEADLINE_METRICS[0],
    has_model: Callable[[str], bool] | None = None,
) -> pd.DataFrame:
    """k finished trials spread evenly over the ranking by ``by`` (best, worst and between).

    A spread subset keeps rank correlations meaningful with few models; only trials whose
    model exists (``has_model(run_dir)``) are eligible.
    """
    done = completed(df)
    if has_model is not None:
        done = done[[has_model(r) for r in done["run_dir"]]]
    if by in done.columns:
        done = done[done[by].notna()].sort_values(by, ascending=False, kind="stable")
    if len(done) <= k:
        return done
    idx = np.unique(np.round(np.linspace(0, len(done) - 1, k)).astype(int))
    return done.iloc[idx]


def reevaluation_table(
    evaluate: Evaluate,
    run_dirs: Mapping[str, str | os.PathLike] | Sequence[str | os.PathLike],
    settings: Mapping[str, Mapping[str, Any]],
) -> pd.DataFrame:
    """Long table (trial, setting, metric, value): every model scored under every setting.

    ``run_dirs`` maps trial names to run folders (a plain list uses the folders as names).
    """
    if not isinstance(run_dirs, Mapping):
        run_dirs = {str(r): r for r in run_dirs}
    rows = []
    for trial, run_dir in run_dirs.items():
        for name, kwargs in settings.items():
            values = evaluate(run_dir, **dict(kwargs))
            rows += [
                {"trial": trial, "setting": name, "metric": key, "value": float(v)}
                for key, v in values.items()
            ]
    return pd.DataFrame(rows, columns=["trial", "setting", "metric", "value"])


def rank_stability(table: pd.DataFrame, reference: str = "reference") -> pd.DataFrame:
    """Per (setting, metric): Spearman and Kendall rank correlation of the models' scores
    with the reference setting, and the largest change of a model's rank."""
    if reference not in set(table["setting"]):
        raise ValueError(
            f"no setting {reference!r} in the re-evaluation table; settings: "
            f"{sorted(set(table['setting']))}"
        )
    wide = table.pivot_table(index="trial", columns=["setting", "metric"], values="value")
    rows = []
    for setting, metric in wide.columns:
        if setting == reference or (reference, metric) not in wide.columns:
            continue
        pair = wide[[(reference, metric), (setting, metric)]].dropna()
        ref, other = pair.iloc[:, 0].to_numpy(), pair.iloc[:, 1].to_numpy()
        row = {
            "setting": setting,
            "metric": metric,
            "n_models": len(pair),
            "spearman": np.nan,
            "kendall": np.nan,
            "max_rank_change": np.nan,
            "mean_abs_change": float(np.mean(np.abs(other - ref))) if len(pair) else np.nan,
        }
        if len(pair) >= 2 and np.ptp(ref) > 0 and np.ptp(other) > 0:
            row["spearman"] = float(scipy.stats.spearmanr(ref, other).statistic)
            row["kendall"] = float(scipy.stats.kendalltau(ref, other).statistic)
        if len(pair) >= 1:
            ranks_ref = scipy.stats.rankdata(-ref)
            ranks_other = scipy.stats.rankdata(-other)
            row["max_rank_change"] = float(np.max(np.abs(ranks_ref - ranks_other)))
        rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[
            "setting",
            "metric",
            "n_models",
            "spearman",
            "kendall",
            "max_rank_change",
            "mean_abs_change",
        ],
    )


#: the stability section's re-scoring table, as the report writes it into <exp>/report/
#: (analysis/report/stability_section.py; sweeps/run.py names the folder)
STABILITY_SCORES = os.path.join("report", "stability_scores.csv")


def seed_settings() -> list[str]:
    """The stability settings that change only the evaluation seed (``eval_seed1``)."""
    return [name for name, change in VARIATIONS.items() if set(change) == {"seed"}]


def eval_noise(
    scores: pd.DataFrame, reference: str = "reference", others: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per metric key: the pooled SD of one model's score over evaluation seeds,
    sqrt(mean over models of the variance across its seeds), from the stability section's
    long table (trial, setting, metric, value), and how many models it pools."""
    others = seed_settings() if others is None else list(others)
    rows = scores[scores["setting"].isin([reference, *others])]
    spread = rows.groupby(["metric", "trial"])["value"].agg(["var", "count"])
    spread = spread[spread["count"] >= 2]
    pooled = spread.groupby("metric")["var"].agg(lambda v: float(np.sqrt(v.mean())))
    out = pooled.rename("eval_noise_sd")
    models = spread.groupby("metric").size().rename("eval_noise_models")
    return pd.concat([out, models], axis=1).reset_index()


def read_eval_noise(exp_dir: PathLike, path: PathLike | None = None) -> pd.DataFrame | None:
    """:func:`eval_noise` of the experiment's stability table (default
    ``<exp>/report/stability_scores.csv``); None when the report has not re-scored models."""
    path = Path(exp_dir) / STABILITY_SCORES if path is None else Path(path)
    if not path.exists():
        log.info("no stability table at %s yet: a report takes the evaluation noise from its "
                 "own re-scoring", path)
        return None
    scores = pd.read_csv(path)
    missing = [c for c in ("trial", "setting", "metric", "value") if c not in scores.columns]
    if missing:
        raise ValueError(
            f"{path} lacks column(s) {missing}; expected the report's "
            "stability_scores table (trial, setting, metric, value)"
        )
    return eval_noise(scores)
