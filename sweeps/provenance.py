"""What a trial's numbers mean: its effective configuration and how its metrics were estimated.

``results.csv`` records, for every trial, the objective's *effective* parameters (the
objective's own defaults merged with what the cell set), so two trials with the same
configuration are the same cell whichever space produced them, and the settings of the
metric estimator (probe, sample sizes, bins, representation, evaluation seed), so
experiments scored differently are never pooled by accident (``analysis.io.load`` refuses).
Defaults are read from where they live (the objective registry, ``TrainConfig``, the
metric registry), never copied here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from lvae.config import TrainConfig
from lvae.contract import EVAL_PREFIX, HP_PREFIX, TRAINING_HPS


def effective_objective_params(objective: str | None,
                               params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The objective's defaults merged with ``params`` (what ``Objective.params`` holds).

    An unknown objective keeps the given params only (its trial fails and says why).
    """
    from lvae.objectives import OBJECTIVES

    cls = OBJECTIVES.get(objective or "")
    defaults = dict(cls.defaults) if cls is not None else {}
    return {**defaults, **dict(params or {})}


def _train_default(name: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    f = fields[name]
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]


def training_hps(train: Mapping[str, Any]) -> dict[str, Any]:
    """``hp.*`` entries for the training settings of a trial (TrainConfig defaults filled in)."""
    return {HP_PREFIX + column: train.get(name, _train_default(name)) for name,
            column in TRAINING_HPS.items()}


def metric_settings(train: Mapping[str, Any]) -> dict[str, Any]:
    """``eval.*`` columns: the estimator settings every metric of this trial was computed with.

    ``eval.probe`` is DCI's probe and ``eval.num_bins`` the bins of MIG/modularity, as
    resolved by ``lvae.evaluate`` (the registry's default when the sweep set none).
    """
    from lvae.metrics.registry import setting_default

    options = dict(train.get("eval_options") or {})
    return {
        f"{EVAL_PREFIX}metrics": ",".join(train.get("evaluate") or []),
        f"{EVAL_PREFIX}probe": options.get("dci_probe") or setting_default("dci_probe"),
        f"{EVAL_PREFIX}num_train": train.get("eval_num_train", _train_default("eval_num_train")),
        f"{EVAL_PREFIX}num_test": train.get("eval_num_test", _train_default("eval_num_test")),
        f"{EVAL_PREFIX}num_bins": options.get("num_bins") or setting_default("num_bins"),
        f"{EVAL_PREFIX}representation": train.get("eval_representation",
                                                  _train_default("eval_representation")),
        f"{EVAL_PREFIX}seed": train.get("eval_seed", _train_default("eval_seed")),
    }
