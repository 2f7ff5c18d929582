"""The report's stability section: re-score a few models under other evaluation settings.

Its metric fits are most of the report's cost (docs/analysis.md, "Report cost"), so two
things bound them: a DCI fit budget set by how much training the experiment ran
(:func:`analysis.studies.stability.within_budget`), and :func:`start_stability`, which starts the
re-scoring in a background thread before the report's other sections are built, so its
fits run in worker processes while the main process builds those sections.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pandas as pd

from analysis.io.table import HEADLINE_METRICS, short_name
from analysis.report.context import Context
from analysis.report.html import Section
from analysis.report.model_sections import model_prelude
from analysis.report.text import guarded, name_list, num
from analysis.studies.rescoring import affected, rescore
from analysis.studies.stability import (
    BUDGETED,
    SAMPLES_PER_FIT,
    capped_settings,
    fit_budget,
    pick_models,
    rank_stability,
    reevaluation_table,
    training_samples,
    within_budget,
)
from lvae.contract import EVAL_PREFIX

TITLE = "Stability of the metrics under other evaluation settings"
#: Context.background key of the re-scoring started by :func:`start_stability`
JOB = "stability"
#: ``ctx.background`` key of this build's re-scoring (trial, setting, metric, value)
STABILITY_SCORES_KEY = "stability_scores"


def stability_count(requested: int, available: int) -> int:
    """Models re-scored: at most a quarter of those available (at least 3, rank correlations
    need them): smoke re-scores 3 of 4, local 3 of 12, study 6 of 42. What each costs is
    bounded separately by the DCI fit budget (:func:`analysis.studies.stability.within_budget`)."""
    return max(1, min(requested, max(3, available // 4), available))


def _smallest(trials: pd.DataFrame, column: str) -> float | None:
    """The smallest recorded value of a numeric column (None when not recorded)."""
    values = pd.to_numeric(trials[column],
                           errors="coerce").dropna() if column in trials else pd.Series(dtype=float)
    return float(values.min()) if len(values) else None


def _change(setting: dict[str, Any], reference: dict[str, Any]) -> str:
    """What a setting changes from the reference, and which metrics it scores if fewer."""
    text = ", ".join(f"{k}={v!r}" for k, v in setting.items() if k !=
                     "metrics" and reference.get(k) != v)
    fewer = [m for m in reference.get("metrics", ()) if m not in setting.get("metrics", ())]
    return (text or "(same)") + (f" ({', '.join(setting['metrics'])} only)" if fewer else "")


def _budgeted(settings: dict[str, dict[str, Any]], df: pd.DataFrame, num_models: int,
              fits: int | None,
              s: Section) -> dict[str, dict[str, Any]]:
    """The settings the experiment's fit budget pays for; the section says what it left out."""
    budget = fit_budget(df) if fits is None else fits
    kept, lost = within_budget(settings, num_models, budget)
    if lost:
        ref = kept["reference"]
        paid = [n for n in kept if any(m in BUDGETED for m in affected(kept[n], ref))]
        source = ("set by stability_fits" if fits is not None else
                  f"one per {SAMPLES_PER_FIT:,} training samples; this experiment trained on "
                  f"{training_samples(df):,}")
        what = "/".join(BUDGETED).upper()
        done = (f"{what} re-fitted under {name_list(paid)} only, not under "
                f"{name_list(lost)}" if paid else
                f"{what} not re-scored (one comparison needs {2 * num_models} fits)")
        s.text.append(f"{done}: {budget} fits budgeted ({source}), {num_models} per setting "
                      "(docs/analysis.md, \"Report cost\"; --stability-fits raises it).")
    return kept


def _plan(df: pd.DataFrame, ctx: Context, s: Section) -> tuple[pd.DataFrame,
                                                               dict[str, dict[str, Any]]]:
    """The models to re-score and the settings to score them under; says both in ``s``."""
    o = ctx.options
    by = ctx.headline[0] if ctx.headline else HEADLINE_METRICS[0]
    chosen = pick_models(df[df["trial"].isin(ctx.with_model)], stability_count(o.stability_models,
                                                                               len(ctx.with_model)),
                         by=by)
    if o.stability_settings is not None:
        settings = o.stability_settings
    else:
        settings = capped_settings(*(_smallest(chosen,
                                               EVAL_PREFIX + k) for k in ("num_train", "num_test")),
                                   parity_probe=o.parity_probe)
        settings = _budgeted(settings, df, len(chosen), o.stability_fits, s)
    reference = settings.get("reference", {})
    s.text.append(f"{len(chosen)} model(s) spread over the {short_name(by)} ranking (of "
                  f"{len(ctx.with_model)} with a checkpoint), re-scored under the reference "
                  f"setting {reference} and these changes to it: " +
                  "; ".join(f"{k}: {_change(cfg, reference)}" for k, cfg in settings.items()
                                        if k != "reference"))
    s.text.append("A setting recomputes only the metrics it can change (bins: MIG and modularity; "
                  "probe: DCI); each model is encoded once per sample of observations.")
    return chosen, settings


def _scores(chosen: pd.DataFrame, settings: dict[str, dict[str, Any]],
            ctx: Context) -> tuple[pd.DataFrame, float]:
    """The re-scoring itself and its wall seconds."""
    o, t0 = ctx.options, time.perf_counter()
    runs = dict(zip(chosen["trial"], chosen["run_dir"], strict=True))
    scores = (reevaluation_table(o.evaluate, runs, settings) if o.evaluate is not None
              else rescore(runs, settings, load_run=o.load_run, n_jobs=o.n_jobs))
    return scores, time.perf_counter() - t0


def start_stability(df: pd.DataFrame, ctx: Context) -> None:
    """Plan the section and start its re-scoring in a background thread (kept in
    ``ctx.background``); :func:`stability_section` collects it."""
    s = Section(TITLE)
    chosen, job = pd.DataFrame(), None
    if model_prelude(df, ctx, s):
        chosen, settings = _plan(df, ctx, s)
        job = _in_background(_scores, chosen, settings, ctx)
    ctx.background[JOB] = (s, chosen, job)


def _in_background(fn: Callable[..., Any], *args: Any) -> Future:
    """``fn(*args)`` in a daemon thread: an interrupted report exits at once instead of
    waiting for the re-scoring (a ThreadPoolExecutor's threads are joined at exit)."""
    job: Future = Future()

    def run() -> None:
        if job.set_running_or_notify_cancel():
            try:
                job.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the job
                job.set_exception(exc)

    threading.Thread(target=run, name=JOB, daemon=True).start()
    return job


def stability_section(df: pd.DataFrame, ctx: Context) -> Section:
    if JOB not in ctx.background:
        start_stability(df, ctx)
    s, chosen, job = ctx.background.pop(JOB)
    if job is None:
        return s

    def collect() -> None:
        scores, seconds = job.result()
        ctx.background[STABILITY_SCORES_KEY] = scores  # the floor's evaluation noise
        ranks = rank_stability(scores)
        s.tables += [("stability_scores", scores), ("stability_ranks", ranks)]
        s.text.append(f"re-evaluation took {seconds:.0f} s, alongside the sections before this one")
        if len(chosen) < 3:
            s.notes.append(f"only {len(chosen)} model(s): rank correlations need at least 3")
        for _, r in ranks.iterrows():
            if r["metric"] in {short_name(m) for m in HEADLINE_METRICS[:2]}:
                s.readings.append(f"{r['metric']}: rank correlation with the reference under "
                                  f"{r['setting']} = {num(r['spearman'])} (largest rank change "
                                  f"{num(r['max_rank_change'])})")

    guarded(s, "metric stability", collect)
    return s
