"""The prepared device check: is a GPU kept busy, how many trials share one, what it buys.

    .venv/bin/python benchmarks/bench_gpu.py            # on a CUDA machine: under 5 minutes
    .venv/bin/python benchmarks/bench_gpu.py --tiny     # anywhere (tests run this on CPU)

Prints, for the ``conv`` VAE at batch 64 on procedural dSprites (the paper preset's model
and batch; L-VAE objective, images resident on the device):

1. steps/s of the trainer's step (``lvae.train.train_step`` on batches drawn by the run's
   sampler) in fp32, bf16 autocast, ``torch.compile`` and, on CUDA, cuDNN autotuning
   (``cudnn.benchmark``, off in the trainer until measured) and CUDA graphs
   (``compile="reduce-overhead"``); medians of timed windows;
2. the trainer itself (``Trainer.fit``: logging, checkpoints) against that bare loop;
3. host synchronisations in the hot loop (CUDA's sync debug mode; should be 0);
4. loss agreement with the CPU on a fixed batch and fixed noise: the first step's losses
   and those after 20 Adam steps, fp32 and bf16 on the device vs fp32 on the CPU;
5. 2 and 4 trials as separate processes on one device at once (as Ray packs
   ``--gpus-per-trial 0.5`` / ``0.25``): steps/s per process, timed in one shared window;
6. projected paper-scale trials (300k steps) per GPU-hour at the best packing, training
   only (the end-of-run metrics run on the CPU; docs/cluster.md).

``--tiny`` (automatic without CUDA): batch 8, a random 512-image dataset, one-second
windows, aot_eager instead of inductor for the compiled variant, packing at 2 only; it
checks that the script works, not what a GPU does.

On a machine whose ``python3`` already holds a CUDA build of PyTorch (no install needed:
lvae's other needs are numpy, scipy, scikit-learn, pandas, tensorboard and pillow; Ray is
not imported), from the repository root:

    PYTHONUNBUFFERED=1 PYTHONPATH=. LVAE_DATA=/tmp/lvae-data \\
        python3 benchmarks/bench_gpu.py --json bench_gpu.json

The first run renders the procedural dSprites grid with every core (seconds; measured in
docs/datasets.md); the README's benchmarks section takes the printed figures.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402
from lvae.config import TrainConfig  # noqa: E402
from lvae.data import register_dataset  # noqa: E402
from lvae.data.registry import DATASETS  # noqa: E402
from lvae.train import Run, build_run, forward_output, network_forward  # noqa: E402

#: One scratch folder per process for run folders and barriers, removed at exit.
SCRATCH = Path(tempfile.mkdtemp(prefix="lvae_bench_gpu_"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)

PAPER_STEPS = 300_000
TARGET_TRIALS_PER_GPU_HOUR = 48
TINY_DATASET = common.RandomBits.name


if TINY_DATASET not in DATASETS:
    register_dataset(TINY_DATASET)(lambda root: common.RandomBits())


@dataclass
class Plan:
    """What to measure and how long: the full device check, or --tiny."""

    device: str
    tiny: bool
    batch: int = 64
    dataset: str = "dsprites_procedural"
    data_root: str | None = None
    seconds: float = 2.0  # one timed window
    windows: int = 3  # timed windows per variant (median)
    warmup: int = 20  # steps before timing (compiles, cuDNN autotuning, caches)
    packing: tuple[int, ...] = (2, 4)
    trainer_steps: int = 1050
    compile_backend: str = "inductor"

    @classmethod
    def make(cls, args: argparse.Namespace) -> Plan:
        tiny = args.tiny or not torch.cuda.is_available()
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if not tiny:
            return cls(device=device, tiny=False, data_root=args.data_root,
                       packing=args.packing or cls.packing)
        return cls(device=device, tiny=True, batch=8, dataset=TINY_DATASET, seconds=1.0,
                   windows=2, warmup=2, packing=(2,), trainer_steps=40,
                   compile_backend="aot_eager")

    def config(self, **overrides: Any) -> TrainConfig:
        base = dict(dataset=self.dataset, device=self.device, batch_size=self.batch,
                    image_every=0, out=tempfile.mkdtemp(dir=SCRATCH))
        if self.tiny:
            base.update(log_every=10, checkpoint_every=20)
        return common.bench_config(self.data_root, **{**base, **overrides})

    def time_windows(self, run: Run) -> list[float]:
        return common.time_windows(run, self.windows, self.seconds, self.warmup)


#: variant name -> TrainConfig overrides
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {},
    "fp32 cudnn.benchmark": {},  # cuDNN autotuning on (the trainer leaves it off)
    "bf16": {"precision": "bf16"},
    "compiled": {"compile": "default"},
    "cuda-graphs": {"compile": "reduce-overhead"},
    "cuda-graphs bf16": {"compile": "reduce-overhead", "precision": "bf16"},
}


def variants_for(plan: Plan) -> list[str]:
    cuda = plan.device.startswith("cuda")
    return [v for v in VARIANTS if cuda or ("cuda-graphs" not in v and "cudnn" not in v)]


def build_variant(plan: Plan, variant: str) -> Run:
    """A run for the variant; --tiny compiles with aot_eager (no C++ compiler's minute).
    cuDNN's benchmark flag is global: build_run turns it off, the variant back on."""
    overrides = dict(VARIANTS[variant])
    if "cudnn.benchmark" in variant:
        run = build_run(plan.config(**overrides))
        torch.backends.cudnn.benchmark = True
        return run
    if plan.tiny and overrides.get("compile") == "default":
        overrides["compile"] = "none"
        run = build_run(plan.config(**overrides))
        run.forward = torch.compile(network_forward, backend=plan.compile_backend)
        return run
    return build_run(plan.config(**overrides))


@dataclass
class Single:
    variant: str
    steps_per_s: float = float("nan")
    windows: list[float] = field(default_factory=list)
    setup_s: float = 0.0
    error: str | None = None


def measure_single(plan: Plan, variant: str) -> Single:
    """One trial alone on the device; a failing variant (compiler missing) is a result."""
    result, start = Single(variant), time.perf_counter()
    try:
        result.windows = plan.time_windows(build_variant(plan, variant))
        result.steps_per_s = common.median(result.windows)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        result.error = common.error_text(exc)
    torch.backends.cudnn.benchmark = False
    result.setup_s = time.perf_counter() - start - plan.seconds * len(result.windows)
    return result


def measure_trainer(plan: Plan, variant: str) -> dict[str, float]:
    """Trainer.fit's steps/s between its first and last record (logging and a checkpoint
    inside) vs the bare loop's, measured right after in the same process."""
    clock = common.fit_timed(plan.config(steps=plan.trainer_steps, **VARIANTS[variant]))
    trainer_rate = clock.steps_per_s()
    bare = common.median(plan.time_windows(build_run(plan.config(**VARIANTS[variant]))))
    return {"trainer": trainer_rate, "bare": bare, "ratio": trainer_rate / bare}


def count_host_syncs(plan: Plan, steps: int = 30) -> int | None:
    """Synchronising CUDA calls in the hot loop (sync debug mode); None off CUDA."""
    if not plan.device.startswith("cuda"):
        return None
    run = build_run(plan.config())
    common.bare_steps(run, 3)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            common.bare_steps(run, steps)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return sum("synchroniz" in str(w.message) for w in caught)


def fixed_losses(config: TrainConfig, x: torch.Tensor, eps: torch.Tensor,
                 steps: int) -> list[list[float]]:
    """Losses of ``steps`` Adam steps on one fixed batch with fixed noise (initial weights
    from the seed on the CPU generator, so identical on every device)."""
    run = build_run(config)
    x, eps = x.to(run.device), eps.to(run.device)
    bf16 = config.precision == "bf16"
    rows = []
    for _ in range(steps):
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=bf16):
            outputs = network_forward(run.model, x, eps)
        terms = run.objective(forward_output(x, outputs, run.step))
        run.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        run.optimizer.step()
        run.step += 1
        rows.append([float(t.detach()) for t in (terms.total, terms.recon, terms.kl)])
    return rows


def measure_agreement(plan: Plan, steps: int = 20) -> dict[str, Any]:
    """Max relative loss difference, device vs CPU, at the first step and after ``steps``."""
    cpu = build_run(plan.config(device="cpu"))
    x = cpu.sampler.batch(plan.batch).contiguous()
    noise = torch.Generator().manual_seed(1)
    eps = torch.randn((plan.batch, cpu.config.latent_dim), generator=noise)
    reference = np.array(fixed_losses(plan.config(device="cpu"), x, eps, steps))
    out: dict[str, Any] = {"steps": steps}
    for precision in ("fp32", "bf16"):
        got = np.array(fixed_losses(plan.config(precision=precision), x, eps, steps))
        rel = np.abs(got - reference) / np.abs(reference)
        out[precision] = {"first": float(rel[0].max()), "last": float(rel[-1].max()),
                          "device_first": got[0].tolist(), "cpu_first": reference[0].tolist()}
    return out


def measure_packing(plan: Plan, processes: int, variant: str) -> dict[str, Any]:
    """``processes`` trials at once on one device, each its own process (as Ray runs
    them), timed over one shared window that starts once every process is warm."""
    barrier = tempfile.mkdtemp(prefix="barrier_", dir=SCRATCH)
    spec = {"plan": asdict(plan), "variant": variant, "barrier": barrier, "processes": processes}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(spec)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(processes)
    ]
    rates, errors = [], []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if proc.returncode or not lines:
            last = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
            errors.append(last)
            continue
        rates.append(json.loads(lines[-1])["steps_per_s"])
    return {"processes": processes, "variant": variant, "per_process": rates,
            "errors": errors, "total": sum(rates)}


def worker(spec: dict[str, Any]) -> None:
    """One packed trial: warm up, wait for the shared start, time one window."""
    plan = Plan(**{**spec["plan"], "packing": tuple(spec["plan"]["packing"])})
    torch.set_num_threads(1)
    run = build_variant(plan, spec["variant"])
    common.bare_steps(run, plan.warmup)
    common.synchronize(plan.device)
    wait_for_all(Path(spec["barrier"]), spec["processes"])
    rate = common.time_windows(run, windows=1, seconds=plan.seconds * 2, warmup=0)[0]
    print(json.dumps({"steps_per_s": rate}), flush=True)


def wait_for_all(barrier: Path, processes: int, timeout: float = 300.0) -> None:
    """File barrier: every worker is warm (compiled, autotuned) before any starts timing."""
    (barrier / f"ready_{os.getpid()}").touch()
    deadline = time.monotonic() + timeout
    while len(list(barrier.glob("ready_*"))) < processes:
        if time.monotonic() > deadline:
            ready = len(list(barrier.glob("ready_*")))
            raise TimeoutError(f"only {ready} of {processes} workers got ready")
        time.sleep(0.05)


def projection(steps_per_s: float) -> dict[str, float]:
    """Paper-scale (300k-step) trials per device-hour at an aggregate steps/s."""
    per_hour = steps_per_s * 3600 / PAPER_STEPS
    return {"aggregate_steps_per_s": steps_per_s, "trials_per_hour": per_hour,
            "hours_per_trial": 1 / per_hour if per_hour else float("inf")}


def measure(plan: Plan) -> dict[str, Any]:
    """Every measurement, as data (the printer formats it)."""
    started = time.perf_counter()
    cuda = plan.device.startswith("cuda")
    env = {"torch": torch.__version__, "device": plan.device, "tiny": plan.tiny,
           "name": torch.cuda.get_device_name(plan.device) if cuda else "cpu"}
    singles = [measure_single(plan, v) for v in variants_for(plan)]
    ok = [s for s in singles if s.error is None]
    trainer_settings = [s for s in ok if s.variant in ("fp32", "bf16")]
    eager = max(trainer_settings, key=lambda s: s.steps_per_s)
    best = max(ok, key=lambda s: s.steps_per_s)
    packing = [measure_packing(plan, n, best.variant) for n in plan.packing]
    results = {
        "env": env, "plan": asdict(plan), "single": [asdict(s) for s in singles],
        "trainer": measure_trainer(plan, eager.variant), "trainer_variant": eager.variant,
        "host_syncs": count_host_syncs(plan), "agreement": measure_agreement(plan),
        "packing": packing,
    }
    packed = [(p["processes"], p["total"]) for p in packing if not p["errors"]]
    processes, rate = max([(1, best.steps_per_s), *packed], key=lambda o: o[1])
    results["best"] = {"variant": best.variant, "processes": processes, **projection(rate)}
    results["elapsed_s"] = time.perf_counter() - started
    return results


def print_report(r: dict[str, Any]) -> None:
    env, plan = r["env"], r["plan"]
    scale = "TINY (checks the script, not a GPU)" if env["tiny"] else "full"
    print(f"torch {env['torch']} on {env['device']} ({env['name']}); {scale}: conv VAE, batch "
          f"{plan['batch']}, dataset {plan['dataset']}, L-VAE, images resident on the device")
    print("\n== 1. one trial: steps/s of the hot loop (median of "
          f"{plan['windows']} windows of {plan['seconds']:g} s) ==")
    for s in r["single"]:
        detail = s["error"] or (f"{s['steps_per_s']:9.1f} steps/s  "
                                f"(setup/compile {s['setup_s']:.1f} s)")
        print(f"   {s['variant']:<18} {detail}")
    t = r["trainer"]
    print(f"\n== 2. trainer vs bare loop ({r['trainer_variant']}) ==\n   Trainer.fit "
          f"{t['trainer']:.1f} steps/s, bare {t['bare']:.1f} steps/s, ratio {t['ratio']:.3f} "
          f"(target >= {common.RATIO_TARGET})")
    syncs = r["host_syncs"]
    print("\n== 3. host synchronisations in 30 hot-loop steps (CUDA sync debug mode) ==\n   "
          + ("n/a off CUDA (tests/lvae/test_train.py counts host reads on CPU)"
             if syncs is None else f"{syncs} (target 0)"))
    a = r["agreement"]
    print("\n== 4. losses on a fixed batch and noise, device vs CPU fp32 (max relative difference "
          "over total/recon/kl) ==")
    for precision in ("fp32", "bf16"):
        print(f"   {precision}: first step {a[precision]['first']:.2e}, after {a['steps']} Adam "
              f"steps {a[precision]['last']:.2e}")
    print(f"\n== 5. trials sharing one device ({r['best']['variant']}), one shared timed window ==")
    for p in r["packing"]:
        note = f"; errors: {p['errors']}" if p["errors"] else ""
        print(f"   {p['processes']} processes: {p['total']:.1f} steps/s in all "
              f"({common.joined(p['per_process'], '.1f')}){note}")
    b = r["best"]
    met = common.verdict(b["trials_per_hour"] >= TARGET_TRIALS_PER_GPU_HOUR)
    print(f"\n== 6. projection: {PAPER_STEPS:,}-step trials per device-hour (training only) ==\n"
          f"   best: {b['variant']} x {b['processes']} per device = "
          f"{b['aggregate_steps_per_s']:.1f} steps/s -> {b['trials_per_hour']:.2f} trials per "
          f"hour ({b['hours_per_trial']:.2f} h each); target >= {TARGET_TRIALS_PER_GPU_HOUR}: "
          f"{met if not env['tiny'] else 'n/a (tiny)'}")
    print(f"\n(took {r['elapsed_s']:.0f} s)")


def _counts(text: str) -> tuple[int, ...]:
    """``--packing``: positive process counts, e.g. ``4,8,16``."""
    try:
        counts = tuple(int(t) for t in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas, got {text!r}")
    return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="tiny sizes (automatic without CUDA)")
    p.add_argument("--device", default=None,
                   help="cuda, cuda:N or cpu (default: cuda when available)")
    p.add_argument("--data-root", default=None, help="data folder (default $LVAE_DATA)")
    p.add_argument("--json", default=None, help="also write the measurements to this JSON file")
    p.add_argument("--packing", default=None, type=_counts,
                   help="trials per device to time together, comma-separated (default 2,4)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    plan = Plan.make(args)
    if not plan.tiny:  # render the grid with every core (once per machine) before timing
        from lvae.data.dsprites_procedural import open_dsprites_procedural
        from lvae.data.registry import resolve_root

        open_dsprites_procedural(resolve_root(plan.data_root), workers=os.cpu_count() or 1)
    results = measure(plan)
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
