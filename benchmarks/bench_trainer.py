"""Trainer benchmark: fastest correct CPU settings, loop overhead, achieved GFLOP/s.

    LVAE_DATA=/path/to/data .venv/bin/python benchmarks/bench_trainer.py [--steps N]
        [--repeats R] [--sweep-steps M] [--sweep-seconds S] [--threads T] [--no-compile]
        [--quick]

All on procedural dSprites with the ``conv`` architecture, batch 64, the default objective
(``lvae``), Adam lr 1e-4, seed 0. The "bare step" is ``lvae.train.train_step`` (forward,
reparameterisation, loss, backward, Adam step; model, objective and optimiser built by
``build_run``) on one preallocated batch.

1. Settings sweep: threads (1, 2) x channels-last x ``torch.compile`` of encoder and
   decoder. Each variant is built from the same seed and must reproduce the default
   setting's losses over a few steps (float tolerance); then all are timed in interleaved
   rounds (order rotated each round). A measurement stops after ``--sweep-seconds`` so a
   setting that collapses under contention cannot eat the budget.
2. Trainer vs bare loop, at the recommended thread count (or ``--threads``). The trainer
   (``lvae.train.Trainer``; TensorBoard scalars every 50 steps, checkpoint every 500,
   images every 1000) is timed between its record at step 50 (warm-up) and its final
   record (the final checkpoint save included). The bare loop runs in 50-step segments
   inside the trainer's hook, timed apart, so each trainer segment has a bare twin measured
   seconds later. Medians over ``--repeats``. Target: trainer/bare >= 0.9. The trainer's
   parts (data path, TensorBoard record, checkpoint, images) are also timed one by one.
3. GFLOP/s: FLOPs of one forward+backward counted with ``FlopCounterMode``, divided by the
   measured step times, next to an estimated fp32 peak of this CPU.

The machine may be shared: the 1-minute load average is printed next to the medians.
Trainer output goes to a temporary folder that is removed afterwards. Exits 1 when the
ratio target is missed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from lvae.checkpoint import save_checkpoint
from lvae.config import TrainConfig
from lvae.data.dsprites_procedural import NAME, ProceduralGridCache
from lvae.data.registry import resolve_root
from lvae.train import Run, Trainer, build_run, checkpoint_state, train_step

LOG_EVERY, CHECKPOINT_EVERY, IMAGE_EVERY = 50, 500, 1000
RATIO_TARGET = 0.9
CHECK_STEPS = 5  # steps compared loss-for-loss against the default setting
LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-4
#: A compiled variant must beat the best eager one by this much to be recommended:
#: compiling costs about a minute per process and renames state_dict keys.
COMPILE_MARGIN = 0.05
MIN_STEPS = 3  # fewest timed steps in a time-capped sweep measurement


def load1() -> float:
    return os.getloadavg()[0]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired(a: list[float], b: list[float]) -> float:
    """Median of a[i] / b[i]: measurements taken close together share the machine's mood."""
    return median([x / y for x, y in zip(a, b, strict=True)])


# ------------------------------------------------------------------ machine
def cpu_ghz() -> tuple[float, str]:
    """Nominal clock: /proc/cpuinfo 'cpu MHz' (what a KVM guest reports), else lscpu."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)]
        if mhz:
            return max(mhz) / 1000, "/proc/cpuinfo 'cpu MHz'"
    except OSError:
        pass
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"CPU max MHz:\s*([\d.]+)", out) or re.search(r"@\s*([\d.]+)GHz", out)
    if m:
        value = float(m.group(1))
        return (value / 1000 if value > 100 else value), "lscpu"
    raise RuntimeError("cannot read the CPU frequency from /proc/cpuinfo or lscpu")


def cpu_peak() -> tuple[float, str]:
    """fp32 peak in GFLOP/s: cores x GHz x FMA units x SIMD lanes x 2 flops per FMA."""
    cores = os.cpu_count() or 1
    ghz, source = cpu_ghz()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    lanes = 16 if " avx512f" in flags else 8 if " avx2" in flags else 4
    units = 2
    peak = cores * ghz * units * lanes * 2
    formula = (
        f"{cores} cores x {ghz:.2f} GHz ({source}) x {units} FMA units x {lanes} fp32 lanes "
        f"({'AVX-512' if lanes == 16 else 'AVX2' if lanes == 8 else 'SSE'}) x 2 flops/FMA "
        f"= {peak:.1f} GFLOP/s (assumes 2 FMA ports per core at the nominal clock; "
        "turbo or AVX-512 down-clocking move the real peak)"
    )
    return peak, formula


def flops_per_step(config: TrainConfig) -> int:
    """FLOPs of one forward + backward (the optimiser step adds no counted matmul/conv)."""
    run = build_run(config)
    x = torch.from_numpy(run.dataset.random_batch(config.batch_size, run.batch_rng))
    with FlopCounterMode(display=False) as counter:
        train_step(run, x)
    return counter.get_total_flops()


# ------------------------------------------------------------ settings
@dataclass(frozen=True)
class Setting:
    threads: int
    channels_last: bool
    compiled: bool

    @property
    def label(self) -> str:
        return (
            f"threads={self.threads} {'channels_last' if self.channels_last else 'contiguous'} "
            f"{'compiled' if self.compiled else 'eager'}"
        )


def apply_setting(run: Run, setting: Setting) -> None:
    """Channels-last model and/or compiled encoder and decoder (train_step calls both).

    ``nn.Module.compile()`` left the graph uncaptured in torch 2.13 (no frames counted),
    so the submodules are wrapped with ``torch.compile`` instead.
    """
    if setting.channels_last:
        run.model.to(memory_format=torch.channels_last)
    if setting.compiled:
        run.model.encoder = torch.compile(run.model.encoder)
        run.model.decoder = torch.compile(run.model.decoder)


def as_input(x: torch.Tensor, setting: Setting) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if setting.channels_last else x


@dataclass
class Variant:
    setting: Setting
    run: Run | None = None
    x: torch.Tensor | None = None
    losses: torch.Tensor | None = None  # (CHECK_STEPS, 3)
    setup_s: float = 0.0
    error: str | None = None
    max_rel: float = float("nan")  # largest relative loss difference from the reference
    correct: bool = False
    times: list[float] = field(default_factory=list)  # seconds per step, one per round
    loads: list[float] = field(default_factory=list)


def prepare_variant(setting: Setting, config: TrainConfig, batches: list[torch.Tensor]) -> Variant:
    """Build from the seed, apply the setting, run the check steps (also compiles/warms)."""
    variant = Variant(setting)
    torch.set_num_threads(setting.threads)
    start = time.perf_counter()
    try:
        run = build_run(config)
        apply_setting(run, setting)
        rows = []
        for x in batches:
            losses, _, _ = train_step(run, as_input(x, setting))
            run.step += 1
            rows.append(losses)
        variant.losses = torch.stack(rows)
        variant.run, variant.x = run, as_input(batches[0], setting)
    except Exception as exc:  # a failed compile is a result to report, not a crash
        variant.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    variant.setup_s = time.perf_counter() - start
    return variant


def time_bare(
    run: Run, x: torch.Tensor, steps: int, warmup: int, max_seconds: float = float("inf")
) -> float:
    """Seconds per step of forward, backward and Adam step on one preallocated batch.

    Stops early (after at least MIN_STEPS) once ``max_seconds`` have passed, so a setting
    that collapses under contention cannot eat the whole time budget.
    """
    if steps < 1:
        raise ValueError(f"time_bare needs steps >= 1, got {steps}")
    for _ in range(warmup):
        train_step(run, x)
        run.step += 1
    start = time.perf_counter()
    done = 0
    while done < steps:
        train_step(run, x)
        run.step += 1
        done += 1
        if done >= MIN_STEPS and time.perf_counter() - start > max_seconds:
            break
    return (time.perf_counter() - start) / done


# ------------------------------------------------------ trainer vs bare
@dataclass
class PairedTiming:
    """One trainer run with bare segments interleaved at its records."""

    trainer: list[float]  # seconds per trainer segment (log_every steps + one record)
    bare: list[float]  # seconds per bare segment (log_every steps), right after each
    end_to_end_steps_per_s: float  # result["steps_per_s"] less the bare segments' time
    tail_s: float  # final record -> fit() returns: final images, writer close, result.json
    record: dict[str, Any]  # the last record the hook saw (to replay its logging cost)


def time_trainer_paired(
    config: TrainConfig, warmup: int, bare: Run, x: torch.Tensor
) -> tuple[PairedTiming, Trainer]:
    """Time the trainer between its records; run a bare segment inside each record's hook.

    A trainer segment is the wall time from leaving the hook to entering it again:
    ``log_every`` steps with their data sampling, the record (and the checkpoint when one is
    due, always at the final step). The bare segment (``log_every`` steps of ``train_step``
    on a preallocated batch) runs straight after, so both see the same machine.
    """
    trainer_t: list[float] = []
    bare_t: list[float] = []
    records: list[dict[str, Any]] = []
    left_hook = [float("nan")]

    def hook(record: dict[str, Any]) -> None:
        entered = time.perf_counter()
        records.append(record)
        if record["step"] > warmup:
            trainer_t.append(entered - left_hook[0])
            bare_t.append(time_bare(bare, x, config.log_every, warmup=0) * config.log_every)
        left_hook[0] = time.perf_counter()

    trainer = Trainer(config, hook=hook)
    result = trainer.fit()
    done = time.perf_counter()
    steps = config.steps - warmup
    if len(trainer_t) != steps // config.log_every:
        raise RuntimeError(
            f"expected {steps // config.log_every} timed segments, got {len(trainer_t)}"
        )
    return PairedTiming(
        trainer=trainer_t,
        bare=bare_t,
        # fit()'s wall clock includes the hook's bare segments: take them out
        end_to_end_steps_per_s=config.steps / (config.steps / result["steps_per_s"] - sum(bare_t)),
        tail_s=done - left_hook[0],
        record=records[-1],
    ), trainer


def time_checkpoint(run: Run, folder: Path, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        save_checkpoint(folder / "bench_checkpoint.pt", checkpoint_state(run))
        times.append(time.perf_counter() - start)
    return median(times)


def time_log(record: dict[str, Any], folder: Path, repeats: int = 20) -> float:
    """One logged record's TensorBoard writes, replayed as the trainer makes them."""
    from torch.utils.tensorboard import SummaryWriter

    scalars = {k: v for k, v in record.items() if k not in ("step", "checkpoint")}
    writer = SummaryWriter(str(folder / "tb_log_cost"))
    times = []
    try:
        for i in range(repeats + 3):  # 3 warm-up writes (file creation)
            start = time.perf_counter()
            for key, value in scalars.items():
                writer.add_scalar(key, value, i)
            times.append(time.perf_counter() - start)
    finally:
        writer.close()
    return median(times[3:])


def time_data(run: Run, batch_size: int, n: int = 100) -> float:
    """The trainer's per-step data path: random batch, from_numpy, to(device)."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        torch.from_numpy(run.dataset.random_batch(batch_size, run.batch_rng)).to(run.device)
        times.append(time.perf_counter() - start)
    return median(times)


# ----------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--steps", type=int, default=200, help="timed steps per trainer/bare measurement"
    )
    p.add_argument("--repeats", type=int, default=3, help="interleaved measurements per variant")
    p.add_argument(
        "--sweep-steps", type=int, default=25, help="timed steps per settings measurement (at most)"
    )
    p.add_argument(
        "--sweep-repeats", type=int, default=8, help="interleaved rounds of the settings sweep"
    )
    p.add_argument(
        "--sweep-seconds",
        type=float,
        default=2.0,
        help=f"stop a settings measurement after this long (at least {MIN_STEPS} steps)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for the trainer/bare comparison (default: those of the recommended setting)",
    )
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 50 steps, 1 repeat, 2 sweep rounds of at most 8 steps",
    )
    p.add_argument("--data-root", default=None, help="data folder (default $LVAE_DATA)")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.repeats, args.sweep_steps, args.sweep_repeats = 50, 1, 8, 2
    for name in ("steps", "repeats", "sweep_steps", "sweep_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.steps % LOG_EVERY:
        p.error(f"--steps must be a multiple of log_every={LOG_EVERY}, got {args.steps}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    return args


def check_data(root: str | None) -> None:
    """Refuse to start when the cache is missing: building it would take minutes."""
    cache = ProceduralGridCache(resolve_root(root) / NAME)
    if not cache.path.exists():
        raise SystemExit(
            f"error: no procedural dSprites cache at {cache.path}; set LVAE_DATA (or --data-root) "
            "to the folder that holds dsprites_procedural/ (benchmarks/bench_data.py --root builds one)"
        )


def part_sweep(
    args: argparse.Namespace, base: TrainConfig, default_threads: int, flops: int, peak: float
) -> list[Variant]:
    torch._dynamo.config.cache_size_limit = 64  # one entry per (module, threads, layout)
    threads = sorted({1, 2, default_threads})
    compiled = (False,) if args.no_compile else (False, True)
    settings = [Setting(t, cl, c) for c in compiled for t in threads for cl in (False, True)]
    reference = Setting(default_threads, False, False)  # what the trainer does today
    settings.sort(key=lambda s: s != reference)
    print(
        f"\n== 1. settings sweep: {len(settings)} variants of the bare step; correctness = "
        f"losses of {CHECK_STEPS} steps from seed {base.seed} vs [{reference.label}] "
        f"(rtol {LOSS_RTOL:g}, atol {LOSS_ATOL:g}); timing up to {args.sweep_steps} steps or "
        f"{args.sweep_seconds:g} s x {args.sweep_repeats} interleaved rounds =="
    )
    probe = build_run(base)  # its batch_rng is seeded from base.seed: fixed check batches
    batches = [
        torch.from_numpy(probe.dataset.random_batch(base.batch_size, probe.batch_rng))
        for _ in range(CHECK_STEPS)
    ]
    variants = []
    for setting in settings:
        v = prepare_variant(setting, base, batches)
        print(f"   {setting.label:<36} {v.error or f'ready in {v.setup_s:.1f} s'}", flush=True)
        variants.append(v)
    ref = variants[0]
    if ref.losses is None:
        raise SystemExit(f"error: the reference setting failed: {ref.error}")
    for v in variants:
        if v.losses is not None:
            diff = (v.losses - ref.losses).abs() / ref.losses.abs().clamp_min(1e-12)
            v.max_rel = float(diff.max())
            v.correct = bool(torch.allclose(v.losses, ref.losses, rtol=LOSS_RTOL, atol=LOSS_ATOL))
    live = [v for v in variants if v.run is not None]
    for r in range(args.sweep_repeats):
        for v in live[r % len(live) :] + live[: r % len(live)]:  # rotate the order each round
            torch.set_num_threads(v.setting.threads)
            v.times.append(time_bare(v.run, v.x, args.sweep_steps, 1, args.sweep_seconds))
            v.loads.append(load1())
        print(f"   round {r + 1}/{args.sweep_repeats} done (load {load1():.2f})", flush=True)
    rank = mean_ranks(variants)
    print(
        f"\n   {'setting (median of rounds)':<36} {'ms/step':>8} {'steps/s':>7} {'speedup':>7} "
        f"{'rank':>5} "
        f"{'GFLOP/s':>7} {'%peak':>6} {'max rel dloss':>13} {'correct':>7} {'setup s':>7} "
        f"{'load':>5}"
    )
    for v in variants:
        if v.run is None:
            print(f"   {v.setting.label:<36} FAILED: {v.error}")
            continue
        t = median(v.times)
        print(
            f"   {v.setting.label:<36} {t * 1e3:8.1f} {1 / t:7.2f} {paired(ref.times, v.times):7.2f} "
            f"{rank[v.setting]:5.2f} {flops / t / 1e9:7.1f} {100 * flops / t / 1e9 / peak:5.1f}% {v.max_rel:13.2e} "
            f"{'yes' if v.correct else 'NO':>7} {v.setup_s:7.1f} {median(v.loads):5.2f}"
        )
    print(
        "   speedup = median over rounds of (default ms/step) / (this ms/step) in the same round;"
        "\n   rank = mean over rounds of the rank by ms/step within the round (1 = fastest)"
    )
    return variants


def mean_ranks(variants: list[Variant]) -> dict[Setting, float]:
    """Mean over rounds of each variant's rank by ms/step within the round (1 = fastest).

    Ranks compare settings measured minutes apart without letting a round in which the
    machine was busier (or one wild measurement of a contended setting) dominate.
    """
    live = [v for v in variants if v.run is not None]
    rounds = range(min(len(v.times) for v in live))
    ranks: dict[Setting, list[int]] = {v.setting: [] for v in live}
    for r in rounds:
        for rank, v in enumerate(sorted(live, key=lambda v: v.times[r]), start=1):
            ranks[v.setting].append(rank)
    return {k: statistics.fmean(v) for k, v in ranks.items()}


def recommend(variants: list[Variant]) -> Variant:
    """Correct setting with the best mean rank (ties: lower median ms/step).

    A compiled setting only when clearly faster than the best eager one: the median of
    their same-round ratios is below 1 - margin.
    """
    rank = mean_ranks(variants)
    ok = [v for v in variants if v.run is not None and v.correct]
    best = min(ok, key=lambda v: (rank[v.setting], median(v.times)))
    eager = [v for v in ok if not v.setting.compiled]
    best_eager = min(eager, key=lambda v: (rank[v.setting], median(v.times)))
    if best.setting.compiled and paired(best.times, best_eager.times) > 1 - COMPILE_MARGIN:
        return best_eager
    return best


@dataclass
class RatioResult:
    trainer: float  # s/step, median
    bare: float
    overhead: float  # s/step the trainer adds, from its measured parts at the stated intervals
    ratio: float  # median bare / median trainer


def part_ratio(
    args: argparse.Namespace, base: TrainConfig, threads: int, folder: Path
) -> RatioResult:
    config = TrainConfig(**{**base.to_dict(), "threads": threads})
    print(
        f"\n== 2. trainer vs bare loop (threads={threads}, eager, contiguous; {args.steps} timed "
        f"steps after a {LOG_EVERY}-step warm-up; {args.repeats} repeats) =="
    )
    print(
        f"   trainer: log_every={LOG_EVERY}, checkpoint_every={CHECKPOINT_EVERY}, "
        f"image_every={IMAGE_EVERY}, timed from its record at step {LOG_EVERY} to its record at "
        f"step {LOG_EVERY + args.steps} ({args.steps // LOG_EVERY} TensorBoard records and the "
        f"final checkpoint inside); inside each record's hook {LOG_EVERY} bare steps run and are "
        "timed apart (hook time excluded from the trainer), so both see the same machine"
    )
    trainer_t: list[float] = []  # s/step, one per repeat
    bare_t: list[float] = []
    segment_ratios: list[float] = []
    loads: list[float] = []
    e2e: list[float] = []
    tails: list[float] = []
    ckpts: list[float] = []
    datas: list[float] = []
    logs: list[float] = []
    for r in range(args.repeats):
        bare = build_run(config)
        x = torch.from_numpy(bare.dataset.random_batch(config.batch_size, bare.batch_rng))
        time_bare(bare, x, 10, warmup=0)  # warm-up, not recorded
        out = str(folder / f"trainer_{r}")
        cfg = TrainConfig(**{**config.to_dict(), "steps": LOG_EVERY + args.steps, "out": out})
        timing, trainer = time_trainer_paired(cfg, LOG_EVERY, bare, x)
        loads.append(load1())
        trainer_t.append(sum(timing.trainer) / args.steps)
        bare_t.append(sum(timing.bare) / args.steps)
        segment_ratios += [b / t for t, b in zip(timing.trainer, timing.bare, strict=True)]
        e2e.append(timing.end_to_end_steps_per_s)
        tails.append(timing.tail_s)
        ckpts.append(time_checkpoint(trainer.run, folder))
        datas.append(time_data(trainer.run, config.batch_size))
        logs.append(time_log(timing.record, folder))
        print(
            f"   repeat {r + 1}: trainer {1 / trainer_t[-1]:6.2f} steps/s, bare "
            f"{1 / bare_t[-1]:6.2f} steps/s, ratio {bare_t[-1] / trainer_t[-1]:.3f}; segment ratios "
            f"{' '.join(f'{v:.2f}' for v in segment_ratios[-len(timing.trainer) :])} "
            f"(load {loads[-1]:.2f})",
            flush=True,
        )
    t, b = median(trainer_t), median(bare_t)
    ckpt, data, tail, log_cost = median(ckpts), median(datas), median(tails), median(logs)
    ratio = b / t
    overhead = data + log_cost / LOG_EVERY + ckpt / CHECKPOINT_EVERY + tail / IMAGE_EVERY
    print(f"   trainer   {1 / t:8.2f} steps/s ({t * 1e3:7.1f} ms/step, median)")
    print(f"   bare loop {1 / b:8.2f} steps/s ({b * 1e3:7.1f} ms/step, median)")
    print(
        f"   trainer end to end, result['steps_per_s'] without the bare segments (warm-up, "
        f"first-step setup and final images included): "
        f"{median(e2e):.2f}"
    )
    print(
        f"   measured parts: data path {data * 1e3:.3f} ms/step, TensorBoard record "
        f"{log_cost * 1e3:.2f} ms per {LOG_EVERY} steps, checkpoint save {ckpt * 1e3:.1f} ms per "
        f"{CHECKPOINT_EVERY}, images (+ close + result.json) {tail * 1e3:.1f} ms per {IMAGE_EVERY}"
        f" -> {overhead * 1e3:.3f} ms/step amortised"
    )
    print(
        f"   ratio from the parts: bare / (bare + parts) = {b / (b + overhead):.3f}; "
        f"median of the {len(segment_ratios)} {LOG_EVERY}-step segment ratios = "
        f"{median(segment_ratios):.3f}; "
        f"wall-clock difference {(t - b) * 1e3:+.1f} ms/step"
    )
    print(
        f"   load average (1 min) during part 2: median {median(loads):.2f}, max {max(loads):.2f} "
        f"on {os.cpu_count()} cores"
    )
    verdict = "PASS" if ratio >= RATIO_TARGET else "FAIL"
    print(
        f"   RATIO trainer/bare (steps/s, medians) = {ratio:.3f}   target >= {RATIO_TARGET}   "
        f"{verdict}   (load {median(loads):.2f})"
    )
    return RatioResult(trainer=t, bare=b, overhead=overhead, ratio=ratio)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_data(args.data_root)
    default_threads = torch.get_num_threads()
    base = TrainConfig(
        data_root=args.data_root,
        log_every=LOG_EVERY,
        checkpoint_every=CHECKPOINT_EVERY,
        image_every=IMAGE_EVERY,
    )
    peak, formula = cpu_peak()
    flops = flops_per_step(base)
    torch.set_num_threads(default_threads)  # build_run may not have, but be explicit
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, default threads {default_threads}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)"
    )
    print(
        f"model {base.architecture}, objective {base.objective}, dataset {base.dataset}, "
        f"batch {base.batch_size}, Adam lr {base.lr:g}, seed {base.seed}"
    )
    print(f"FLOPs per step (forward + backward, FlopCounterMode): {flops / 1e9:.3f} GFLOP")
    print(f"peak estimate: {formula}")

    started = time.perf_counter()
    variants = part_sweep(args, base, default_threads, flops, peak)
    best = recommend(variants)
    print(f"   (part 1 took {time.perf_counter() - started:.0f} s)")
    started = time.perf_counter()
    threads = args.threads or best.setting.threads
    folder = Path(tempfile.mkdtemp(prefix="lvae_bench_trainer_"))
    try:
        torch.set_num_threads(threads)
        ratio = part_ratio(args, base, threads, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"   (part 2 took {time.perf_counter() - started:.0f} s)")

    print("\n== 3. achieved GFLOP/s (forward + backward FLOPs / measured step time) ==")
    print(
        f"   {flops / 1e9:.3f} GFLOP per step; peak {peak:.1f} GFLOP/s ({formula.split(' (')[0]})"
    )
    rows = [
        (f"bare, {best.setting.label} (best)", median(best.times)),
        (f"bare, {variants[0].setting.label} (default)", median(variants[0].times)),
        (f"bare, threads={threads} contiguous eager (part 2)", ratio.bare),
        (f"trainer, threads={threads} contiguous eager (part 2)", ratio.trainer),
    ]
    for name, t in rows:
        g = flops / t / 1e9
        print(f"   {name:<52} {g:7.1f} GFLOP/s = {100 * g / peak:4.1f}% of peak")

    ref, best_t = variants[0], median(best.times)
    print(
        f"\n== recommendation (correct setting with the best mean rank; compiled only if >= {COMPILE_MARGIN:.0%} faster "
        "than the best eager setting, round by round) =="
    )
    print(
        f"   use [{best.setting.label}]: {best_t * 1e3:.1f} ms/step, "
        f"{paired(ref.times, best.times):.2f}x the speed of the default [{ref.setting.label}] "
        f"({median(ref.times) * 1e3:.1f} ms/step; median of same-round ratios)"
    )
    for other in variants:
        diff = [
            f
            for f in ("threads", "channels_last", "compiled")
            if getattr(other.setting, f) != getattr(best.setting, f)
        ]
        if other.run is not None and len(diff) == 1:  # one factor flipped
            print(
                f"   vs [{other.setting.label}]: that one takes "
                f"{paired(other.times, best.times):.2f}x as long per step (median of same-round ratios)"
            )
    print(
        f"   projected trainer/bare at that setting with part 2's measured loop parts "
        f"({ratio.overhead * 1e3:.3f} ms/step): {best_t / (best_t + ratio.overhead):.3f}"
    )
    print(
        f"   the thread count was chosen at a median load of "
        f"{median([x for v in variants for x in v.loads]):.2f} on {os.cpu_count()} cores: with other "
        "processes on the cores, threads > 1 stalls in every parallel region; on an idle machine "
        "more threads can win, so rerun when idle before changing a default"
    )
    return 0 if ratio.ratio >= RATIO_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
