"""The sweep's Tune experiments: each trial's settings, the parameter space, trial folder
names, and the tuners of the first stage and of the beta-matched twins."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from lvae.config import TrainConfig
from sweeps.cli import OPTUNA_METRICS_DEFAULT
from sweeps.presets import Preset
from sweeps.spaces import Cell, Space, seeds_for
from sweeps.storage import ExperimentStorage

if TYPE_CHECKING:
    from sweeps.plan import Plan

#: every trial's latent code size: the trainer's default
LATENT_DIM = TrainConfig.latent_dim



def train_settings(args: argparse.Namespace, preset: Preset) -> dict[str, Any]:
    """The TrainConfig fields shared by every trial of the sweep."""
    return {
        "dataset": args.dataset,
        "data_root": args.data_root,
        "latent_dim": LATENT_DIM,
        "batch_size": preset.batch_size,
        "steps": preset.steps,
        "lr": preset.lr,
        "objective_lr": preset.objective_lr,
        "objective_betas": list(preset.objective_betas),
        "deterministic": preset.deterministic,
        "log_every": preset.log_every,
        "checkpoint_every": preset.checkpoint_every,
        # a finished trial keeps its weights, not Adam's moments: the analysis needs only
        # the weights, and a trial's storage drops to about a third (docs/cluster.md)
        "final_optimizer_state": False,
        "image_every": preset.image_every,
        "evaluate": list(preset.metrics),
        "eval_num_train": preset.eval_num_train,
        "eval_num_test": preset.eval_num_test,
        "eval_options": dict(preset.eval_options),
        "eval_every": preset.eval_every,
        "track_num_train": preset.track_num_train,
        "track_num_test": preset.track_num_test,
    }


def param_space(space: Space, preset: Preset, args: argparse.Namespace) -> dict[str, Any]:
    from ray import tune

    train = train_settings(args, preset)
    if space.search is not None:
        search = space.search()
        return {"train": {**train, **search.get("train", {})}, "cell": search["cell"]}
    return {
        "train": train,
        "cell": tune.grid_search(space.cells(preset)),
        "seed": tune.grid_search(seeds_for(space, preset, args.seeds)),
    }


def trial_dirname(trial) -> str:
    """``<cell>_seed=<seed>``, also the run's name in TensorBoard (``<cell>_seed=<seed>/run/tb``);
    a searched space's suggestions share a label, so their folders keep the trial id."""
    cell = trial.config.get("cell", {})
    seed = trial.config.get("seed", trial.config.get("__trial_index__", 0))
    name = f"{cell.get('label', 'trial')}_seed={seed}"
    return name if "seed" in trial.config else f"{trial.trial_id}_{name}"


#: Tune keeps each trial's latest checkpoint only (sweeps/trainable.py: each is stored once)
CHECKPOINTS_TO_KEEP = 1


def checkpoints_to_keep(preset: Preset, args: argparse.Namespace) -> int:
    """Tune's ``num_to_keep``: 1 at every preset, so a trial stores one checkpoint.

    Tune then snapshots the experiment state after each checkpoint (so the state never
    names a deleted one) and warns that the snapshots may become a bottleneck; a snapshot
    is ~40 kB per trial, and the driver turns the warning off (sweeps/progress.py).
    """
    return CHECKPOINTS_TO_KEEP


def _trainable(args: argparse.Namespace):
    from ray import tune

    from sweeps.trainable import lvae_trainable

    resources = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial}
    # --device reaches every trial (a resumed sweep's too) without entering its config
    device = getattr(args, "device", "auto")
    return tune.with_resources(tune.with_parameters(lvae_trainable, device=device), resources)


def restore(uri: str, args: argparse.Namespace):
    """The Tune experiment saved at ``uri``, to continue (errored trials too)."""
    from ray import tune

    from sweeps.results import quiet_unstarted_trials

    with quiet_unstarted_trials():  # restoring reads every trial's results, none for unstarted
        return tune.Tuner.restore(uri, trainable=_trainable(args), resume_errored=True)


def make_tuner(space: Space, preset: Preset, args: argparse.Namespace, exp: ExperimentStorage,
               resume: bool):
    """The sweep's Tune experiment (its first stage), new or restored."""

    if resume:
        return restore(exp.uri, args)
    search: dict[str, Any] = {}
    if space.kind == "optuna":
        from ray.tune.search import Repeater
        from ray.tune.search.optuna import OptunaSearch

        # progress reports carry no metric
        os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
        n_seeds = len(seeds_for(space, preset, args.seeds))
        metric = args.metric or OPTUNA_METRICS_DEFAULT
        searcher = Repeater(OptunaSearch(metric=metric, mode="max", seed=0), repeat=n_seeds)
        search = {"search_alg": searcher, "metric": metric, "mode": "max",
                  "num_samples": preset.optuna_samples * n_seeds}
    return new_tuner(param_space(space, preset, args), exp, preset, args, **search)


def new_tuner(config: dict[str, Any], exp: ExperimentStorage, preset: Preset,
              args: argparse.Namespace, stage: str = "sweep", **search: Any):
    """A Tune experiment of ``config`` (``search``: an Optuna space's searcher) in ``exp``;
    its progress lines start with ``stage``."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from sweeps.fullstorage import StorageGuard
    from sweeps.progress import SweepProgress

    return tune.Tuner(
        _trainable(args),
        param_space=config,
        tune_config=tune.TuneConfig(
            max_concurrent_trials=args.max_concurrent,
            trial_dirname_creator=trial_dirname,
            reuse_actors=True,  # halves trial start-up: a finished trial's process takes the next
            **search,
        ),
        run_config=tune.RunConfig(
            name=exp.name,
            storage_path=exp.storage,
            # run/ is uploaded at every checkpoint: the final checkpoint's weights with it
            sync_config=tune.SyncConfig(sync_artifacts=True, sync_artifacts_on_checkpoint=True),
            failure_config=tune.FailureConfig(max_failures=2),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints_to_keep(preset, args)),
            # Tune's JSON and CSV logs, without its TensorBoard events (main() turns off the
            # automatic loggers): the trainer's run/tb is each trial's one TensorBoard run
            callbacks=[JsonLoggerCallback(), CSVLoggerCallback(), SweepProgress(stage),
                       StorageGuard()],  # a full storage stops the sweep (sweeps/fullstorage.py)
            verbose=0,  # Tune's tables off: SweepProgress prints a line per trial instead
        ),
    )


def make_twin_tuner(plan: Plan, args: argparse.Namespace, twins: list[Cell], resume: bool):
    """The twins' stage: a second Tune experiment in the experiment folder, training
    ``twins`` on the sweep's seeds (restored as it was saved when ``resume``)."""
    from ray import tune

    if resume:
        return restore(plan.twin_exp.uri, args)
    config = {
        "train": train_settings(args, plan.preset),
        "cell": tune.grid_search(twins),
        "seed": tune.grid_search(plan.settings["seeds"]),
    }
    return new_tuner(config, plan.twin_exp, plan.preset, args, stage="twins")


def start_ray(args: argparse.Namespace) -> None:
    import ray

    if args.address:
        ray.init(address=args.address, log_to_driver=True)
    else:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, object_store_memory=256 * 2**20)

