"""A synthetic experiment folder shaped like disentanglement_lib's study, for measuring the report
at its scale (benchmarks/bench_report.py; docs/cluster.md, "The report at disentanglement_lib's
scale").

6 objectives x 6 hyperparameter values x 7 datasets x 50 seeds = 12,600 trials, in seed-major
order so that ``--trials N`` keeps every cell and fewer seeds. results.csv has the columns the
sweep writes (its rows come from ``sweeps.results.trial_row``); each trial folder is laid out as
a paper-preset trial leaves it: Tune's files (their per-report history only with
``--tune-history``: the report never opens them), ``run/config.json``, ``result.json``,
``metrics.json``, ``worker.json``, ``run/scalars.npz`` (lvae.scalar_table) and TensorBoard
events at the paper preset's density (a record every 500 of 300,000 steps, every tag the trainer
logs for the objective, the two image tags every 25,000 steps, with a small stand-in PNG).
Seeds 0 and 1 of the dsprites_procedural L-VAE and beta-VAE cells (24 trials, the only dataset
that needs no download) also hold a checkpoint of the right format and config. Values are
seeded: a cell effect, a seed effect shared by the dataset's cells and per-trial noise. The
folder also holds the metrics' floor and ceiling cache that the sweep scores on its cluster
(benchmarks/synthetic_reference.py; sweeps/floor.py).

    .venv/bin/python benchmarks/synthetic_study.py --out /tmp/synth/full [--trials 1000]
    .venv/bin/python benchmarks/synthetic_study.py --out /tmp/synth/1k --trials 1000 \
        --link-from /tmp/synth/full      # reuse a larger folder's trial folders
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import synthetic_events as se  # noqa: E402
from benchmarks import synthetic_trial as st  # noqa: E402
from benchmarks.synthetic_reference import write_reference  # noqa: E402
from lvae.contract import RESULTS_FILE  # noqa: E402
from sweeps.results import (  # noqa: E402
    COLLAPSE_COLUMNS,
    FIRST_COLUMNS,
    LOSS_COLUMNS,
    SWEEP_FILE,
    TAIL_COLUMNS,
    trial_row,
)

FULL = 12_600
#: per process: the event-file templates of each objective (built once, about a second each)
_TEMPLATES: dict[str, se.Template] = {}
SEEDS = 50


def design(trials: int = FULL) -> pd.DataFrame:
    """One row per trial (index, seed, dataset, objective, param, value, cell index), seed-major."""
    cells = [(d, o, p, v) for d in st.DATASETS for o, (p, values) in st.OBJECTIVES.items()
             for v in values]
    rows = [(s, ci, *c) for s in range(SEEDS) for ci, c in enumerate(cells)]
    df = pd.DataFrame(rows[:trials], columns=["seed", "cell_index", "dataset", "objective",
                                              "param", "value"])
    return df.rename_axis("index").reset_index()


def _fake_trial(spec: dict, exp_dir: Path) -> SimpleNamespace:
    """What sweeps.results.trial_row reads of a Tune trial."""
    return SimpleNamespace(config=spec["config"], last_result=spec["last"],
                           trial_id=spec["trial_id"], status="TERMINATED",
                           path=str(exp_dir / spec["trial_dir"]), num_failures=0)


def results_table(specs: list[dict], exp_dir: Path) -> pd.DataFrame:
    """results.csv as sweeps.results.collect orders it."""
    settings = {"space": "synthetic", "preset": "paper"}
    df = pd.DataFrame([trial_row(_fake_trial(s, exp_dir), exp_dir, settings) for s in specs])
    groups = [sorted(c for c in df.columns if c.startswith(prefix))
              for prefix in ("hp.", "metric.", "eval.", "kl.dim_")]
    ordered = (FIRST_COLUMNS + groups[0] + LOSS_COLUMNS + COLLAPSE_COLUMNS + groups[1]
               + groups[2] + groups[3] + TAIL_COLUMNS)
    df = df.reindex(columns=ordered)
    return df.sort_values(["cell", "seed", "trial_id"], kind="stable").reset_index(drop=True)


def _write_chunk(args: tuple) -> list[dict]:
    """Write the trial folders of one chunk of the design (a worker process)."""
    rows, exp_dir, seed, checkpoint, history, link_from = args
    templates = _TEMPLATES
    specs = []
    for row in rows:
        spec, values = st.trial_spec(row, seed)
        if link_from is not None and (Path(link_from) / spec["trial_dir"]).is_dir():
            (exp_dir / spec["trial_dir"]).symlink_to(Path(link_from) / spec["trial_dir"])
        else:
            st.write_trial(exp_dir, spec, values, templates, checkpoint, history)
        specs.append(spec)
    return specs


def _write_all(rows: list[dict], out: Path, seed: int, jobs: int, source: Path,
               history: bool, link_from: Path | None) -> list[dict]:
    """Every trial folder, ``jobs`` processes writing interleaved chunks."""
    chunks = [rows[i::jobs * 4] for i in range(jobs * 4)]
    args = [(c, out, seed, source, history, link_from) for c in chunks]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            specs = [s for part in pool.map(_write_chunk, args) for s in part]
    else:
        specs = [s for a in args for s in _write_chunk(a)]
    return sorted(specs, key=lambda s: s["index"])


def generate(out: Path, trials: int = FULL, seed: int = 0, jobs: int = 2,
             checkpoint_from: Path | None = None, history: bool = False,
             link_from: Path | None = None) -> pd.DataFrame:
    """Write the folder; returns results.csv's table."""
    out.mkdir(parents=True, exist_ok=False)
    rows = design(trials).to_dict("records")
    with tempfile.TemporaryDirectory() as tmp:
        source = checkpoint_from or st.source_checkpoint(Path(tmp))
        specs = _write_all(rows, out, seed, jobs, source, history, link_from)
    table = results_table(specs, out)
    table.to_csv(out / RESULTS_FILE, index=False)
    sweep = {"space": "synthetic", "preset": "paper", "seeds": list(range(SEEDS)),
             "dataset": "(7 datasets)", "synthetic": {"trials": trials, "seed": seed}}
    (out / SWEEP_FILE).write_text(json.dumps(sweep, indent=2))
    write_reference(out, seed)  # the floor and ceiling the sweep scores on its cluster
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="new experiment folder")
    p.add_argument("--trials", type=int, default=FULL, help=f"first N trials (default {FULL})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="writer processes (default 2)")
    p.add_argument("--checkpoint-from", type=Path, default=None,
                   help="a conv, 10-latent run's checkpoint.pt whose weights the checkpoints "
                        "carry (default: a freshly initialised model's)")
    p.add_argument("--tune-history", action="store_true",
                   help="Tune's result.json and progress.csv with every report, not the last")
    p.add_argument("--link-from", type=Path, default=None,
                   help="a larger synthetic folder (same --seed): link its trial folders")
    args = p.parse_args(argv)
    if not 1 <= args.trials <= FULL:
        p.error(f"--trials must be in 1..{FULL}")
    t0 = time.perf_counter()
    table = generate(args.out, args.trials, args.seed, args.jobs, args.checkpoint_from,
                     args.tune_history, args.link_from)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"wrote {len(table)} trials to {args.out} in {time.perf_counter() - t0:.0f} s "
          f"({size / 2**30:.2f} GiB{'' if args.link_from is None else ', links not followed'}; "
          f"{os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
