"""Named search spaces: which cells a sweep compares, each answering one question.

A space is data: a function from a preset to a list of cells (objective, its
parameters, architecture), crossed with seeds by the runner. ``lvae_optuna`` is the
exception: Optuna suggests the cells.

A space holding L-VAE next to fixed-beta cells (VAE, beta-VAE) of the same architecture
also gets, per L-VAE cell, a beta-matched twin: a beta-VAE fixed at that cell's median
learned beta, trained on the same seeds once the L-VAE cell has finished
(:func:`twin_sources`, :func:`twin_cell`; ``sweeps/twins.py`` plans them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lvae.contract import MATCHED_TO
from sweeps.presets import Preset

Cell = dict[str, Any]


@dataclass(frozen=True)
class Space:
    name: str
    question: str
    cells: Callable[[Preset], list[Cell]]
    #: "grid": cells x seeds; "optuna": Optuna suggests configurations, repeated over seeds
    kind: str = "grid"
    #: optuna spaces: the Tune distributions Optuna samples, as overrides of a trial's
    #: ``{"train": ..., "cell": ...}`` config
    search: Callable[[], dict[str, Any]] | None = None

    def num_trials(self, preset: Preset, seeds: int | None = None) -> int:
        n_seeds = len(seeds_for(self, preset, seeds))
        if self.kind == "optuna":
            return preset.optuna_samples * n_seeds
        return len(self.cells(preset)) * n_seeds

    def num_twins(self, preset: Preset, seeds: int | None = None) -> int:
        """Beta-matched twins the sweep trains at most (one per L-VAE cell and seed)."""
        if self.kind != "grid":
            return 0
        return len(twin_sources(self.cells(preset))) * len(seeds_for(self, preset, seeds))


def cell(objective: str, architecture: str = "conv", **params: Any) -> Cell:
    label = objective + "".join(f"_{k}={v:g}" if isinstance(v, float) else f"_{k}={v}" for k,
                                v in params.items())
    if architecture != "conv":
        label += f"_{architecture}"
    return {"objective": objective, "objective_params": params, "architecture": architecture,
            "label": label}


def controller_cell(objective: str, preset: Preset, architecture: str = "conv") -> Cell:
    """ControlVAE/DynamicVAE in time compressed to the run length (schedule, integral
    gain and KL window together; docs/objectives.md, "Compressed time")."""
    scale = preset.controller_time_scale
    if scale == 1.0:
        return cell(objective, architecture)
    return cell(objective, architecture, time_scale=float(scale))


def fixed_beta_cells(preset: Preset, architecture: str = "conv") -> list[Cell]:
    return [cell("vae", architecture)] + [
        cell("beta_vae", architecture, beta=float(b)) for b in preset.betas if b != 1.0
    ]


#: objectives at a fixed beta (the VAE is beta = 1): what an L-VAE cell is compared with
FIXED_BETA_OBJECTIVES = ("vae", "beta_vae")


def twin_sources(cells: list[Cell]) -> list[Cell]:
    """The L-VAE cells that get a beta-matched twin: those with a fixed-beta cell of the
    same architecture in the space (``arch``: each architecture on its own)."""
    fixed = {c["architecture"] for c in cells if c["objective"] in FIXED_BETA_OBJECTIVES}
    return [c for c in cells if c["objective"] == "lvae" and c["architecture"] in fixed]


def twin_cell(source: Cell, beta: float) -> Cell:
    """A beta-VAE of ``source``'s architecture at ``beta``, marked as ``source``'s twin."""
    twin = cell("beta_vae", source["architecture"], beta=float(beta))
    label = f"{twin['label']}_twin_of_{source['label']}"
    return {**twin, "label": label, MATCHED_TO: source["label"]}


def _lvae_reg(preset: Preset) -> list[Cell]:
    return [cell("lvae",
                 **{"lambda": float(lam)}) for lam in preset.lambdas] + fixed_beta_cells(preset)


def _baselines(preset: Preset) -> list[Cell]:
    return [
        *fixed_beta_cells(preset),
        controller_cell("controlvae", preset),
        controller_cell("dynamicvae", preset),
        cell("sigma_vae"),
        cell("beta_tcvae"),
        cell("lvae"),
    ]


def _arch(preset: Preset) -> list[Cell]:
    return [
        c
        for arch in preset.architectures
        for c in (cell("lvae", arch), cell("beta_vae", arch, beta=4.0))
    ]


def _seeds(preset: Preset) -> list[Cell]:
    return [cell("lvae"), cell("beta_vae", beta=4.0)]


def _optuna(preset: Preset) -> list[Cell]:
    return []  # suggested by Optuna at run time from _optuna_search


def _optuna_search() -> dict[str, Any]:
    """lvae_optuna's distributions: the learning rate, lambda and the initial balance."""
    from ray import tune

    return {
        "train": {"lr": tune.loguniform(1e-5, 3e-3)},
        "cell": {
            "objective": "lvae",
            "architecture": "conv",
            "label": "lvae_optuna",
            "objective_params": {
                "lambda": tune.loguniform(1e-4, 10.0),
                # a cold start from a searched initial balance (the warm start would
                # overwrite it at the first step; docs/objectives.md, "Warm start")
                "warm_start": False,
                "init_s_kl": tune.uniform(-2.0, 2.0),
            },
        },
    }


SPACES: dict[str, Space] = {
    s.name: s
    for s in (
        Space(
            "lvae_reg",
            "How do DCI/MIG and the learned beta depend on L-VAE's regulariser strength lambda, "
            "against the fixed-beta grid and a plain VAE, across seeds?",
            _lvae_reg,
        ),
        Space(
            "baselines",
            "Does L-VAE at its default lambda match the objectives the paper compares "
            "(VAE, beta-VAE grid, ControlVAE, DynamicVAE, sigma-VAE) and beta-TCVAE?",
            _baselines,
        ),
        Space(
            "arch",
            "Is the learned beta's advantage (or not) stable across encoder/decoder architectures?",
            _arch,
        ),
        Space(
            "seeds",
            "How much of the metric spread is the seed alone? L-VAE default vs beta-VAE (beta=4) "
            "over many seeds.",
            _seeds,
        ),
        Space(
            "lvae_optuna",
            "Which lambda, learning rate and weight initialisation maximise a chosen metric "
            "(Optuna TPE, each suggestion repeated over seeds)?",
            _optuna,
            kind="optuna",
            search=_optuna_search,
        ),
    )
}

#: multiplier on the preset's seed count for the ``seeds`` space
SEEDS_SPACE_FACTOR = 3


def get_space(name: str) -> Space:
    if name not in SPACES:
        raise KeyError(f"unknown space {name!r}; valid spaces: {', '.join(SPACES)}")
    return SPACES[name]


def seeds_for(space: Space, preset: Preset, seeds: int | None) -> list[int]:
    n = seeds or preset.seeds * (SEEDS_SPACE_FACTOR if space.name == "seeds" else 1)
    return list(range(n))
