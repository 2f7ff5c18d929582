"""Which estimator produced each metric value, and refusing to pool different ones.

The sweep records the metric settings of every trial as ``eval.*`` columns (DCI probe,
sample sizes, MIG/modularity bins, mean or sampled codes, evaluation seed). DCI from the
fast ``hgb`` probe reads slightly higher than from ``gbt`` (docs/metrics.md, "DCI
probes"), and metrics from 3,000 samples are noisier than from 10,000: one column holding both would
make estimator
differences look like differences between models. :func:`check_pooling` therefore
refuses a table whose rows were scored under different settings, unless asked to keep
them apart (one labelled column per setting, plus a ``metric_settings`` grouping key).
"""

from __future__ import annotations

import pandas as pd

from lvae.contract import EVAL_PREFIX, EVAL_SETTINGS, METRIC_PREFIX

UNRECORDED = "not recorded"


class PoolingError(ValueError):
    """Rows scored with different metric settings were about to share a column."""


def _value(v: object) -> str:
    if pd.isna(v):
        return UNRECORDED
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def settings_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One column per setting (text); an experiment that did not record them is keyed by
    its preset, the only hint of how it was scored."""
    out = pd.DataFrame(index=df.index)
    for name in EVAL_SETTINGS:
        col = EVAL_PREFIX + name
        out[name] = df[col].map(_value) if col in df.columns else UNRECORDED
    unrecorded = (out == UNRECORDED).all(axis=1)
    preset = df["preset"].fillna("").astype(str) if "preset" in df.columns else ""
    out["preset"] = pd.Series(preset, index=df.index).where(unrecorded, "")
    return out


def _label(row: pd.Series, names: list[str]) -> str:
    if row.get("preset"):
        return f"settings not recorded, preset {row['preset']}"
    return ",".join(f"{n}={row[n]}" for n in names)


def settings_labels(df: pd.DataFrame) -> pd.Series:
    """A short label per row naming only the settings that differ in this table."""
    frame = settings_frame(df)
    if frame.empty:
        return pd.Series(dtype=object, index=df.index)
    names = [n for n in EVAL_SETTINGS if frame[n].nunique() > 1]
    return pd.Series([_label(r, names) or "same "
                                          "settings" for _, r in frame.iterrows()], index=df.index)


def _describe(df: pd.DataFrame, labels: pd.Series) -> str:
    parts = []
    for label, rows in df.groupby(labels, sort=True):
        exps = (
            ", ".join(sorted(rows["exp_name"].astype(str).unique())) if "exp_name" in rows else "?"
        )
        parts.append(f"{exps} ({label})")
    return "; ".join(parts)


def check_pooling(df: pd.DataFrame, keep_apart: bool = False) -> pd.DataFrame:
    """Return ``df`` if every row shares one metric setting; otherwise raise, or split.

    With ``keep_apart=True`` each ``metric.<m>`` column becomes ``metric.<m>[<label>]``,
    one per setting (NaN for rows scored otherwise), and ``metric_settings`` holds each
    row's label.
    """
    labels = settings_labels(df)
    out = (
        df.assign(metric_settings=labels)
        if len(df)
        else df.assign(metric_settings=pd.Series(dtype=object))
    )
    if labels.nunique() <= 1:
        return out
    differing = [n for n in EVAL_SETTINGS if settings_frame(df)[n].nunique() > 1] or ["preset"]
    if not keep_apart:
        raise PoolingError(
            f"refusing to pool metrics computed with different settings (they differ in "
            f"{', '.join(differing)}): {_describe(df, labels)}. Values from different estimators "
            "in one column would look like differences between models. Load them separately, "
            "or keep them apart (load_experiments(..., keep_apart=True); report: --keep-apart) "
            "for one labelled column per setting."
        )
    metrics = [c for c in df.columns if c.startswith(METRIC_PREFIX)]
    split = {
        f"{m}[{label}]": df[m].where(labels == label)
        for m in metrics
        for label in sorted(labels.unique())
    }
    # a metric one setting never computed
    split = {k: v for k, v in split.items() if v.notna().any()}
    return pd.concat([out.drop(columns=metrics), pd.DataFrame(split, index=df.index)], axis=1)


def base_metric(column: str) -> str:
    """``metric.mig[probe=gbt]`` -> ``metric.mig`` (a column kept apart by its settings)."""
    return column.split("[", 1)[0]
