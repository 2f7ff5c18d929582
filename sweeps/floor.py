"""The metrics' floor and ceiling as sweep work: untrained encoders scored where trials run.

The report compares every cell with what an untrained encoder of the trials' architecture
scores under the trials' own metric settings (docs/metrics.md, "Floor and ceiling"). Scoring
one untrained encoder costs what a trial's evaluation costs: at the paper preset the
BetaVAE score alone encodes about 2 million images (17 CPU-minutes; docs/cluster.md, "The
floor and ceiling are sweep work"), and each (dataset, architecture, latent size, settings)
group needs five. So once results.csv is complete the sweep scores them as Ray tasks with a
trial's resources and ``--device`` (one task per init seed, one for the ceiling, every group
at once), into ``<exp>/metric_reference/`` (analysis.studies.reference's cache), which the
report then reads instead of encoding on the machine that builds it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from analysis.io.load import load_experiments
from analysis.studies import reference as ref
from lvae.contract import REFERENCE_DIR


def _threads() -> int:
    """The CPUs Ray gave this task (torch and the metric probes use no more)."""
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    return max(1, int(cpus))


def floor_task(group: ref.Group, families: list[str], seed: int, data_root: str | None,
               device: str) -> ref.Scores:
    """One init seed's untrained encoder scored (a Ray task: runs on a worker)."""
    import ray
    import torch

    from lvae.metrics.reference import floor_scores
    from sweeps.trainable import pick_device

    threads = _threads()
    torch.set_num_threads(threads)
    gpus = len(ray.get_runtime_context().get_accelerator_ids().get("GPU", []))
    scores = floor_scores(group.dataset, group.architecture, group.latent_dim,
                          group.metric_settings(families), [seed], data_root=data_root,
                          device=pick_device(gpus, device), n_jobs=threads)
    return scores[seed]


def ceiling_task(group: ref.Group, families: list[str], data_root: str | None) -> ref.Scores:
    """The ground-truth factors scored as codes (a Ray task: no model, no GPU)."""
    from lvae.metrics.reference import ceiling_scores

    return ceiling_scores(group.dataset, group.metric_settings(families), data_root=data_root,
                          n_jobs=_threads())


def compute_reference(exp_dir: Path, args: argparse.Namespace,
                      init_seeds: Sequence[int] = ref.INIT_SEEDS) -> dict[ref.Group, str]:
    """Score every group the cache lacks on the running Ray cluster and cache the rows;
    returns the groups that failed and why (the others are cached; the report names them).
    A task that fails is not retried: its error would recur (a dataset that is missing)."""
    import ray

    trials = load_experiments(exp_dir)
    groups = ref.trial_groups(trials).tolist()
    todo = ref.missing_families(ref.read_cache(exp_dir), groups, init_seeds)
    if not todo:
        return {}
    resources = {"num_cpus": args.cpus_per_trial, "num_gpus": args.gpus_per_trial,
                 "max_retries": 0}
    floor_remote = ray.remote(floor_task).options(**resources)
    ceiling_remote = ray.remote(ceiling_task).options(num_cpus=args.cpus_per_trial,
                                                       max_retries=0)
    device = getattr(args, "device", "auto")
    pending = {(g, tuple(f)): ([floor_remote.remote(g, f, s, args.data_root, device)
                                for s in init_seeds],
                               ceiling_remote.remote(g, f, args.data_root))
               for g, f in todo}
    print(f"floor:       scoring {len(todo)} group(s) x {len(init_seeds)} untrained encoders "
          "and the ceiling as Ray tasks", flush=True)

    def gather(group: ref.Group, families: Sequence[str],
               seeds: Sequence[int]) -> tuple[dict[int, ref.Scores], ref.Scores]:
        floors, ceiling = pending[(group, tuple(families))]
        try:
            return dict(zip(seeds, ray.get(floors), strict=True)), ray.get(ceiling)
        except ray.exceptions.RayTaskError as exc:  # the task's own error, not Ray's traceback
            raise (exc.cause or exc) from None

    t0, errors = time.perf_counter(), {}
    ref.cached_reference(exp_dir, [g for g, _ in todo], init_seeds, gather, errors)
    done = len(todo) - len(errors)
    print(f"floor:       {done} of {len(todo)} group(s) cached in {exp_dir / REFERENCE_DIR} "
          f"in {time.perf_counter() - t0:.0f} s"
          + "".join(f"\n  FAILED {g.label}: {why}" for g, why in errors.items()), flush=True)
    return errors
