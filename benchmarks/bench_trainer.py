"""Trainer benchmark on CPU: GFLOP/s against this core's peak, layouts, loop overhead.

    LVAE_DATA=/path/to/data .venv/bin/python benchmarks/bench_trainer.py [--rounds R]
        [--repeats N] [--steps S] [--compile] [--quick]

Procedural dSprites, ``conv`` architecture, batch 64, L-VAE, Adam lr 1e-4, seed 0, one
thread (as sweeps run each trial). Measuring and printing are apart: every ``measure_*``
function returns data, ``print_report`` formats it.

1. Machine: vector ISA (``torch.backends.cpu.get_cpu_capability()`` and /proc/cpuinfo
   flags), clock (/proc/cpuinfo, else lscpu) and the fp32 peak of ONE core,
   GHz x FMA units x fp32 lanes x 2; the FMA-unit count is an assumption, printed.
2. Settings of the bare step (``train_step`` on one preallocated batch), interleaved in
   rounds with the order rotated; each reported as the median of its rounds and as the
   median of same-round ratios against the baseline (contiguous, fp32, one thread):
   contiguous vs channels-last at one thread (the trainer picks by CPU capability,
   ``lvae/device.py``: this checks the pick on this machine), two threads, bf16 autocast
   (an option: changes the numbers), and with ``--compile`` the compiled forward.
3. Trainer vs bare loop at one thread with the trainer's own layout: 50-step trainer
   segments (logging, the checkpoint) each followed by a 50-step bare twin in the hook.
   Target trainer/bare >= 0.95. The trainer's parts (data path on the host and on the
   device, TensorBoard record, checkpoint) are timed one by one.
4. GFLOP/s: forward + backward FLOPs (``FlopCounterMode``) over measured step times,
   as a share of one core's peak (x threads for multi-thread rows). Target: the trainer's
   step >= 45% of the peak; below it, a per-layer forward/backward profile (module hooks)
   and the top operators (``torch.profiler``) show where the time goes.

The machine may be shared: load averages are printed next to the medians. Exits 1 when
the trainer/bare target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402
from lvae.checkpoint import save_checkpoint  # noqa: E402
from lvae.data.dsprites_procedural import NAME, ProceduralGridCache  # noqa: E402
from lvae.data.registry import resolve_root  # noqa: E402
from lvae.data.sampling import make_sampler  # noqa: E402
from lvae.device import default_channels_last  # noqa: E402
from lvae.train import Run, build_forward, build_run, checkpoint_state  # noqa: E402

PEAK_TARGET = 0.45
CHECK_STEPS = 4  # steps compared loss-for-loss against the baseline setting
LOSS_RTOL = 1e-4


def load1() -> float:
    return os.getloadavg()[0]


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Setting:
    label: str
    threads: int = 1
    channels_last: bool = False
    precision: str = "fp32"
    compiled: bool = False


def bare_step_settings(compiled: bool) -> list[Setting]:
    """The bare-step settings to compare, the baseline first: contiguous fp32 at one
    thread; the compiled forward only on request (minutes to compile)."""
    out = [
        Setting("contiguous, 1 thread"),
        Setting("channels-last, 1 thread", channels_last=True),
        Setting("contiguous, 2 threads", threads=2),
        Setting("bf16 autocast, 1 thread (option)", precision="bf16"),
    ]
    if compiled:
        out.append(Setting("compiled forward, 1 thread", compiled=True))
    return out


def build_setting(setting: Setting, data_root: str | None) -> Run:
    torch.set_num_threads(setting.threads)
    run = build_run(common.bench_config(data_root, channels_last=setting.channels_last,
                                        precision=setting.precision, threads=setting.threads))
    if setting.compiled:
        run.forward = build_forward("default")
    return run


def fixed_batches(data_root: str | None, n: int) -> list[torch.Tensor]:
    probe = build_run(common.bench_config(data_root))
    return [probe.sampler.batch(64) for _ in range(n)]


@dataclass
class Variant:
    setting: Setting
    run: Run | None = None
    x: torch.Tensor | None = None
    losses: torch.Tensor | None = None
    error: str | None = None
    times: list[float] = field(default_factory=list)  # wall s/step, one per round
    cpu_times: list[float] = field(default_factory=list)  # CPU s/step, one per round
    loads: list[float] = field(default_factory=list)


def prepare(setting: Setting, data_root: str | None, batches: list[torch.Tensor]) -> Variant:
    """Build from the seed, run the check steps (which also warm up / compile)."""
    v = Variant(setting)
    try:
        v.run = build_setting(setting, data_root)
        layout = torch.channels_last if setting.channels_last else torch.contiguous_format
        xs = [x.contiguous(memory_format=layout) for x in batches]
        v.losses, v.x = torch.stack([common.bare_step(v.run, x) for x in xs]), xs[0]
    except Exception as exc:  # noqa: BLE001 - a failed compile is a result
        v.run, v.error = None, common.error_text(exc)
    return v


def measure_settings(args: argparse.Namespace) -> list[Variant]:
    """Every setting timed in interleaved rounds (order rotated), baseline included."""
    batches = fixed_batches(args.data_root, CHECK_STEPS)
    variants = [prepare(s, args.data_root, batches) for s in bare_step_settings(args.compile)]
    live = [v for v in variants if v.run is not None]
    if variants[0].run is None:
        raise SystemExit(f"error: the baseline setting failed: {variants[0].error}")
    for r in range(args.rounds):
        for v in live[r % len(live):] + live[: r % len(live)]:
            torch.set_num_threads(v.setting.threads)
            t = common.time_bare(v.run, args.round_steps, v.x, warmup=1)
            v.times.append(t.wall)
            v.cpu_times.append(t.cpu)
            v.loads.append(load1())
    torch.set_num_threads(1)
    return variants


# ---------------------------------------------------------- trainer vs bare
@dataclass
class Paired:
    clock: common.TrainerClock  # trainer segments, each with its bare twin
    load: float


def measure_trainer_vs_bare(args: argparse.Namespace, folder: Path, repeat: int) -> Paired:
    """The trainer timed between its records; a bare twin segment inside each record's
    hook (hook time excluded from the trainer), so both see the same machine."""
    torch.set_num_threads(1)
    bare = build_run(common.bench_config(args.data_root))
    x = bare.sampler.batch(64)
    common.time_bare(bare, 3, x)
    config = common.bench_config(args.data_root, steps=common.LOG_EVERY + args.steps,
                                 out=str(folder / f"trainer_{repeat}"))
    clock = common.fit_timed(config, twin=lambda steps: common.time_bare(bare, steps, x))
    return Paired(clock, load1())


@dataclass
class Parts:
    data_host: float  # s per batch
    data_device: float
    record: float  # s per TensorBoard record
    checkpoint: float  # s per save


def measure_parts(data_root: str | None, folder: Path) -> Parts:
    """The trainer's per-step and per-record costs, one by one."""
    from torch.utils.tensorboard import SummaryWriter

    run = build_run(common.bench_config(data_root))
    host = make_sampler(run.dataset, run.device, 1, on_device=False)
    device = make_sampler(run.dataset, run.device, 1, on_device=True)
    writer = SummaryWriter(str(folder / "tb_parts"))
    scalars = {f"tag/{i}": float(i) for i in range(30)}  # a record's size (L-VAE, 10 latents)

    def record() -> None:
        for key, value in scalars.items():
            writer.add_scalar(key, value, 0)

    def checkpoint() -> None:
        save_checkpoint(folder / "c.pt", checkpoint_state(run))

    try:
        parts = Parts(
            data_host=common.time_calls(lambda: host.batch(64), 200),
            data_device=common.time_calls(lambda: device.batch(64), 200),
            record=common.time_calls(record, 20),
            checkpoint=common.time_calls(checkpoint, 3),
        )
    finally:
        writer.close()
    return parts


# ------------------------------------------------------------------ measure
def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    out: dict[str, Any] = {"cpu": common.detect_cpu(),
                           "flops": common.flops_per_step(args.data_root),
                           "loads_start": os.getloadavg(), "trainer_channels_last":
                           default_channels_last(torch.device("cpu"))}
    out["settings"] = measure_settings(args)
    folder = Path(tempfile.mkdtemp(prefix="lvae_bench_trainer_"))
    try:
        out["paired"] = [measure_trainer_vs_bare(args, folder, r) for r in range(args.repeats)]
        out["parts"] = measure_parts(args.data_root, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    trainer_s = common.median([t for p in out["paired"] for t in p.clock.trainer_cpu])
    out["below_peak_target"] = out["flops"] / trainer_s / 1e9 < PEAK_TARGET * out["cpu"].core_peak
    if out["below_peak_target"] or args.profile:
        out["profile"] = common.measure_profile(args.data_root)
    out["elapsed_s"] = time.perf_counter() - started
    return out


# ------------------------------------------------------------------ print
def pct(gflops: float, peak: float) -> str:
    return f"{gflops:7.1f} GFLOP/s = {100 * gflops / peak:5.1f}%"


def print_machine(r: dict[str, Any]) -> None:
    c: common.CpuInfo = r["cpu"]
    print(f"torch {torch.__version__}; {c.model}; {c.cores} CPUs; load average "
          f"{common.joined(r['loads_start'])} (1/5/15 min)")
    print(f"vector ISA: {c.isa} (torch capability {c.capability}; /proc/cpuinfo flags agree)")
    print(f"clock: {c.ghz:.2f} GHz from {c.ghz_source}; {c.fma_note}")
    print(f"peak of ONE core (fp32): {c.ghz:.2f} GHz x {c.fma_units} FMA units x {c.lanes} "
          f"lanes x 2 = {c.core_peak:.1f} GFLOP/s (turbo, or AVX-512 down-clocking, move the "
          "real peak)")
    print("FLOPs per step (forward + backward, batch 64, FlopCounterMode): "
          f"{r['flops'] / 1e9:.3f} GFLOP")


def print_settings(r: dict[str, Any], args: argparse.Namespace) -> None:
    variants, peak, flops = r["settings"], r["cpu"].core_peak, r["flops"]
    base = variants[0]
    print(f"\n== 2. bare step settings: median of {args.rounds} interleaved rounds of "
          f"{args.round_steps} steps; 'vs base' = speed relative to [{base.setting.label}], "
          "median of same-round ratios, of wall time and of CPU time ==")
    print(f"   {'setting':<36} {'ms/step':>8} {'steps/s':>7} {'vs base':>7} {'CPU':>6} "
          f"{'per wall second: % of peak':>28} {'per CPU second':>28} {'max rel dloss':>13} "
          f"{'load':>5}")
    for v in variants:
        if v.run is None:
            print(f"   {v.setting.label:<36} FAILED: {v.error}")
            continue
        t, c = common.median(v.times), common.median(v.cpu_times)
        rel = float(((v.losses - base.losses).abs() / base.losses.abs()).max())
        vs_wall = common.paired(base.times, v.times)
        vs_cpu = common.paired(base.cpu_times, v.cpu_times)
        print(f"   {v.setting.label:<36} {t * 1e3:8.1f} {1 / t:7.2f} {vs_wall:6.2f}x "
              f"{vs_cpu:5.2f}x {pct(flops / t / 1e9, peak * v.setting.threads):>28} "
              f"{pct(flops / c / 1e9, peak):>28} {rel:13.2e} {common.median(v.loads):5.2f}")
    print_layout_pick(r, base)
    print("   per wall second: of one core's peak x threads; per CPU second: FLOPs over the "
          "process's CPU time, against one core's peak (what a core achieved while it ran the "
          "step)")
    print("   bf16 runs on AMX/AVX-512-BF16 units where present, "
          "so its % of the fp32 peak is not an efficiency")


def print_layout_pick(r: dict[str, Any], base: Variant) -> None:
    """Whether lvae/device.py's layout pick is the faster one on this machine."""
    cl = next(v for v in r["settings"] if v.setting.channels_last and v.setting.threads == 1)
    speedup = float("nan")
    if cl.run is not None:
        speedup = common.paired(base.cpu_times, cl.cpu_times)
    faster = speedup > 1
    choice = "channels-last" if r["trainer_channels_last"] else "contiguous"
    wrong = "THE PICK IS WRONG ON THIS MACHINE"
    pick = "the pick holds" if faster == r["trainer_channels_last"] else wrong
    print(f"   the trainer picks {choice} on {r['cpu'].capability} (lvae/device.py); measured "
          f"here: {'channels-last' if faster else 'contiguous'} faster at one thread "
          f"(channels-last takes {1 / speedup:.3f}x the CPU time of contiguous, median of "
          f"same-round ratios) -> {pick}")


def print_ratio(r: dict[str, Any]) -> float:
    clocks: list[common.TrainerClock] = [p.clock for p in r["paired"]]
    print(f"\n== 3. trainer vs bare loop, one thread, the trainer's layout; {len(clocks)} repeats "
          f"of {len(clocks[0].trainer)} {common.LOG_EVERY}-step segment pairs ==")
    for i, (c, p) in enumerate(zip(clocks, r["paired"], strict=True), 1):
        trainer, bare = common.median(c.trainer), common.median(c.bare)
        print(f"   repeat {i}: trainer {1 / trainer:.2f} steps/s, bare {1 / bare:.2f} steps/s; "
              f"segment ratios wall {common.joined(c.ratios(False))}, "
              f"CPU time {common.joined(c.ratios(True))} (load {p.load:.2f})")
    wall = common.median([v for c in clocks for v in c.ratios(False)])
    cpu = common.median([v for c in clocks for v in c.ratios(True)])
    trainer = common.median([t for c in clocks for t in c.trainer])
    bare = common.median([b for c in clocks for b in c.bare])
    print(f"   trainer {1 / trainer:.2f} steps/s, bare {1 / bare:.2f} steps/s (wall, medians of "
          "segments)")
    print_parts(r["parts"], bare)
    target = common.RATIO_TARGET
    print(f"   RATIO trainer/bare, median of same-segment ratios: CPU time {cpu:.3f} (target >= "
          f"{target}: {common.verdict(cpu >= target)}), wall clock {wall:.3f} (moved by the "
          "other processes on the cores)")
    return cpu


def print_parts(parts: Parts, bare: float) -> None:
    """The trainer's parts, and the ratio they would leave if they were all it adds."""
    log, ckpt = common.LOG_EVERY, common.CHECKPOINT_EVERY
    per_step = parts.data_host + parts.record / log + parts.checkpoint / ckpt
    print(f"   parts: batch on the host {parts.data_host * 1e6:.0f} us, on the device path "
          f"{parts.data_device * 1e6:.0f} us (on CPU the trainer uses the host path); TensorBoard "
          f"record {parts.record * 1e3:.2f} ms per {log} steps; checkpoint "
          f"{parts.checkpoint * 1e3:.1f} ms per {ckpt} -> {per_step * 1e3:.3f} "
          f"ms/step, projected ratio {bare / (bare + per_step):.4f}")


def print_peak(r: dict[str, Any]) -> None:
    peak, flops = r["cpu"].core_peak, r["flops"]
    cpu = common.median([t for p in r["paired"] for t in p.clock.trainer_cpu])
    wall = common.median([t for p in r["paired"] for t in p.clock.trainer])
    g = flops / cpu / 1e9
    met = "PASS" if g >= PEAK_TARGET * peak else "SHORT (profile below)"
    print(f"\n== 4. training step vs one core's fp32 peak ({peak:.1f} GFLOP/s), trainer at one "
          "thread ==")
    print(f"   per CPU second: {pct(g, peak)} of peak; target >= {PEAK_TARGET:.0%}: {met}")
    print(f"   per wall second: {pct(flops / wall / 1e9, peak)} of peak "
          f"(load {common.median([p.load for p in r['paired']]):.2f})")
    if "profile" in r:
        common.print_profile(r["profile"], peak)


def print_report(r: dict[str, Any], args: argparse.Namespace) -> float:
    print("== 1. machine ==")
    print_machine(r)
    print_settings(r, args)
    ratio = print_ratio(r)
    print_peak(r)
    print(f"\n(took {r['elapsed_s']:.0f} s; load average now {common.joined(os.getloadavg())})")
    return ratio


# ------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=6, help="interleaved rounds of the settings")
    p.add_argument("--round-steps", type=int, default=8, help="timed steps per setting per round")
    p.add_argument("--repeats", type=int, default=3, help="trainer-vs-bare runs")
    p.add_argument("--steps", type=int, default=150,
                   help="timed trainer steps per run (multiple of 50)")
    p.add_argument("--compile", action="store_true",
                   help="also time the compiled forward (minutes to compile)")
    p.add_argument("--profile", action="store_true",
                   help="print the per-layer profile even at target")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2 rounds of 2 steps, 1 repeat of 50 steps")
    p.add_argument("--data-root", default=None, help="data folder (default $LVAE_DATA)")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.round_steps, args.repeats, args.steps = 2, 2, 1, 50
    if args.steps % common.LOG_EVERY or args.steps < common.LOG_EVERY:
        p.error(f"--steps must be a positive multiple of {common.LOG_EVERY}, got {args.steps}")
    for name in ("rounds", "round_steps", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def check_data(root: str | None) -> None:
    """Refuse to start when the cache is missing: building it would take minutes."""
    cache = ProceduralGridCache(resolve_root(root) / NAME)
    if not cache.path.exists():
        raise SystemExit(
            f"error: no procedural dSprites cache at {cache.path}; set LVAE_DATA (or "
            "--data-root) to the folder that holds dsprites_procedural/ "
            "(benchmarks/bench_data.py --root builds one)"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_data(args.data_root)
    ratio = print_report(measure(args), args)
    return 0 if ratio >= common.RATIO_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
