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
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from lvae.checkpoint import save_checkpoint
from lvae.config import TrainConfig
from lvae.data.dsprites_procedural import NAME, ProceduralGridCache
from lvae.data.registry import resolve_root
from lvae.data.sampling import make_sampler
from lvae.device import cpu_capability, default_channels_last
from lvae.train import Run, Trainer, build_forward, build_run, checkpoint_state, train_step

LOG_EVERY, CHECKPOINT_EVERY, IMAGE_EVERY = 50, 500, 1000
RATIO_TARGET = 0.95
PEAK_TARGET = 0.45
CHECK_STEPS = 4  # steps compared loss-for-loss against the baseline setting
LOSS_RTOL = 1e-4


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired(a: list[float], b: list[float]) -> float:
    """Median of a[i] / b[i]: measurements taken close together share the machine's mood."""
    return median([x / y for x, y in zip(a, b, strict=True)])


def load1() -> float:
    return os.getloadavg()[0]


# ------------------------------------------------------------------- machine
@dataclass
class CpuInfo:
    model: str
    capability: str  # torch's dispatch level
    isa: str  # "AVX-512", "AVX2" or "SSE" (from the flags and the capability)
    lanes: int  # fp32 lanes per vector
    fma_units: int  # assumed
    fma_note: str
    ghz: float
    ghz_source: str
    cores: int

    @property
    def core_peak(self) -> float:
        """fp32 GFLOP/s of one core: GHz x FMA units x lanes x 2 flops per FMA."""
        return self.ghz * self.fma_units * self.lanes * 2


def read_clock(cpuinfo: str) -> tuple[float, str]:
    """Clock in GHz: /proc/cpuinfo 'cpu MHz' (what a KVM guest reports), else lscpu."""
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.M)]
    if mhz:
        return max(mhz) / 1000, "/proc/cpuinfo 'cpu MHz'"
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"CPU max MHz:\s*([\d.]+)", out) or re.search(r"@\s*([\d.]+)GHz", out)
    if m:
        value = float(m.group(1))
        return (value / 1000 if value > 100 else value), "lscpu"
    raise RuntimeError("cannot read the CPU clock from /proc/cpuinfo or lscpu")


def detect_cpu() -> CpuInfo:
    """ISA from torch's capability and the flags (both must agree on AVX-512), clock,
    and the FMA-unit assumption (stated, since it cannot be read from the CPU)."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split()) if "flags" in text else set()
    capability = cpu_capability()
    model = (re.search(r"^model name\s*:\s*(.*)$", text, re.M) or [None, "unknown"])[1]
    if capability.startswith("AVX512") and "avx512f" in flags:
        isa, lanes, units = "AVX-512", 16, 2
        note = "2 FMA units per core assumed (Xeon server parts with two 512-bit FMA ports; some have one)"
    elif capability.startswith("AVX2") or "avx2" in flags:
        isa, lanes, units = "AVX2", 8, 2
        note = "2 FMA units per core assumed (Haswell and later)"
    else:
        isa, lanes, units, note = "SSE", 4, 1, "1 vector unit per core assumed"
    ghz, source = read_clock(text)
    return CpuInfo(model, capability, isa, lanes, units, note, ghz, source, os.cpu_count() or 1)


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Setting:
    label: str
    threads: int = 1
    channels_last: bool = False
    precision: str = "fp32"
    compiled: bool = False


def settings_for(args: argparse.Namespace) -> list[Setting]:
    """The baseline first: contiguous fp32 at one thread."""
    out = [
        Setting("contiguous, 1 thread"),
        Setting("channels-last, 1 thread", channels_last=True),
        Setting("contiguous, 2 threads", threads=2),
        Setting("bf16 autocast, 1 thread (option)", precision="bf16"),
    ]
    if args.compile:
        out.append(Setting("compiled forward, 1 thread", compiled=True))
    return out


def base_config(data_root: str | None, **overrides: Any) -> TrainConfig:
    fields = dict(data_root=data_root, threads=1, log_every=LOG_EVERY,
                  checkpoint_every=CHECKPOINT_EVERY, image_every=IMAGE_EVERY)
    return TrainConfig(**{**fields, **overrides})


def build_setting(setting: Setting, data_root: str | None) -> Run:
    torch.set_num_threads(setting.threads)
    run = build_run(base_config(data_root, channels_last=setting.channels_last, precision=setting.precision,
                                threads=setting.threads))
    if setting.compiled:
        run.forward = build_forward("default")
    return run


def fixed_batches(data_root: str | None, n: int) -> list[torch.Tensor]:
    probe = build_run(base_config(data_root))
    return [probe.sampler.batch(64) for _ in range(n)]


@dataclass
class Timing:
    """Seconds per step: wall clock, and CPU time of this process (all its threads). On a
    shared machine the CPU time is what the step cost while it ran; the wall clock adds
    the time other processes held the cores."""

    wall: float
    cpu: float


def time_bare(run: Run, x: torch.Tensor, steps: int, warmup: int = 0) -> Timing:
    """Forward, backward and Adam step on one preallocated batch."""
    for _ in range(warmup):
        train_step(run, x)
        run.step += 1
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        train_step(run, x)
        run.step += 1
    return Timing((time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps)


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
        rows = []
        for x in xs:
            rows.append(train_step(v.run, x)[0])
            v.run.step += 1
        v.losses, v.x = torch.stack(rows), xs[0]
    except Exception as exc:  # noqa: BLE001 - a failed compile is a result
        v.run, v.error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return v


def measure_settings(args: argparse.Namespace) -> list[Variant]:
    """Every setting timed in interleaved rounds (order rotated), baseline included."""
    batches = fixed_batches(args.data_root, CHECK_STEPS)
    variants = [prepare(s, args.data_root, batches) for s in settings_for(args)]
    live = [v for v in variants if v.run is not None]
    if variants[0].run is None:
        raise SystemExit(f"error: the baseline setting failed: {variants[0].error}")
    for r in range(args.rounds):
        for v in live[r % len(live):] + live[: r % len(live)]:
            torch.set_num_threads(v.setting.threads)
            t = time_bare(v.run, v.x, args.round_steps, warmup=1)
            v.times.append(t.wall)
            v.cpu_times.append(t.cpu)
            v.loads.append(load1())
    torch.set_num_threads(1)
    return variants


# ---------------------------------------------------------- trainer vs bare
@dataclass
class Paired:
    trainer: list[float]  # wall s/step per segment
    bare: list[float]
    trainer_cpu: list[float]  # CPU s/step per segment
    bare_cpu: list[float]
    load: float


def measure_trainer_vs_bare(args: argparse.Namespace, folder: Path, repeat: int) -> Paired:
    """The trainer timed between its records; a bare twin segment inside each record's
    hook (hook time excluded from the trainer), so both see the same machine."""
    torch.set_num_threads(1)
    bare = build_run(base_config(args.data_root))
    x = bare.sampler.batch(64)
    time_bare(bare, x, 3)
    out = Paired([], [], [], [], 0.0)
    left = [float("nan"), float("nan")]

    def hook(record: dict[str, Any]) -> None:
        entered, cpu = time.perf_counter(), time.process_time()
        if record["step"] > LOG_EVERY:  # the first segment warms up
            out.trainer.append((entered - left[0]) / LOG_EVERY)
            out.trainer_cpu.append((cpu - left[1]) / LOG_EVERY)
            t = time_bare(bare, x, LOG_EVERY)
            out.bare.append(t.wall)
            out.bare_cpu.append(t.cpu)
        left[:] = [time.perf_counter(), time.process_time()]

    config = base_config(args.data_root, steps=LOG_EVERY + args.steps, out=str(folder / f"trainer_{repeat}"))
    Trainer(config, hook=hook).fit()
    out.load = load1()
    return out


@dataclass
class Parts:
    data_host: float  # s per batch
    data_device: float
    record: float  # s per TensorBoard record
    checkpoint: float  # s per save


def time_calls(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def measure_parts(args: argparse.Namespace, folder: Path) -> Parts:
    """The trainer's per-step and per-record costs, one by one."""
    from torch.utils.tensorboard import SummaryWriter

    run = build_run(base_config(args.data_root))
    host = make_sampler(run.dataset, run.device, 1, on_device=False)
    device = make_sampler(run.dataset, run.device, 1, on_device=True)
    writer = SummaryWriter(str(folder / "tb_parts"))
    scalars = {f"tag/{i}": float(i) for i in range(30)}  # about a record's size (L-VAE, 10 latents)

    def record() -> None:
        for key, value in scalars.items():
            writer.add_scalar(key, value, 0)

    try:
        parts = Parts(
            data_host=time_calls(lambda: host.batch(64), 200),
            data_device=time_calls(lambda: device.batch(64), 200),
            record=time_calls(record, 20),
            checkpoint=time_calls(lambda: save_checkpoint(folder / "c.pt", checkpoint_state(run)), 3),
        )
    finally:
        writer.close()
    return parts


# ------------------------------------------------------------------ profile
def flops_per_step(data_root: str | None) -> int:
    """FLOPs of one forward + backward (Adam's elementwise work is not counted)."""
    run = build_run(base_config(data_root))
    x = run.sampler.batch(64)
    with FlopCounterMode(display=False) as counter:
        train_step(run, x)
    return counter.get_total_flops()


def layer_flops(module: torch.nn.Module, x: torch.Tensor, out: torch.Tensor) -> int:
    """Forward FLOPs of a conv or linear layer (2 per multiply-add)."""
    if isinstance(module, torch.nn.Linear):
        return 2 * out.numel() * module.in_features
    if isinstance(module, torch.nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        return 2 * out.numel() * k
    if isinstance(module, torch.nn.ConvTranspose2d):
        k = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
        return 2 * x.numel() * k
    return 0


def attach_layer_timers(model: torch.nn.Module, table: dict[str, dict[str, float]]) -> list[Any]:
    """Forward and backward CPU time of this thread per leaf module (one intra-op thread
    and synchronous CPU kernels, so hooks time the layer; other processes do not count)."""
    handles = []
    for name, module in model.named_modules():
        if list(module.children()):
            continue
        row = table.setdefault(name, {"kind": type(module).__name__, "fwd": 0.0, "bwd": 0.0, "flops": 0})
        start: dict[str, float] = {}

        def pre(m, inp, row=row, start=start):
            start["f"] = time.thread_time()

        def post(m, inp, out, row=row, start=start):
            row["fwd"] += time.thread_time() - start["f"]
            row["flops"] = layer_flops(m, inp[0], out)

        def bpre(m, grad_out, start=start):
            start["b"] = time.thread_time()

        def bpost(m, grad_in, grad_out, row=row, start=start):
            row["bwd"] += time.thread_time() - start["b"]

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post),
                    module.register_full_backward_pre_hook(bpre), module.register_full_backward_hook(bpost)]
    return handles


def measure_profile(data_root: str | None, steps: int = 4) -> dict[str, Any]:
    """Per-layer forward/backward seconds per step, and torch.profiler's top operators."""
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    run = build_run(base_config(data_root))
    x = run.sampler.batch(64)
    time_bare(run, x, 2)
    table: dict[str, dict[str, float]] = {}
    handles = attach_layer_timers(run.model, table)
    step_s = time_bare(run, x, steps).cpu
    for h in handles:
        h.remove()
    for row in table.values():
        row["fwd"] /= steps
        row["bwd"] /= steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        time_bare(run, x, steps)
    ops = [(e.key, e.self_cpu_time_total / 1e6 / steps) for e in prof.key_averages()]  # wall clock
    ops.sort(key=lambda kv: -kv[1])
    return {"layers": table, "hooked_step_s": step_s, "ops": ops[:12]}


# ------------------------------------------------------------------ measure
def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    out: dict[str, Any] = {"cpu": detect_cpu(), "flops": flops_per_step(args.data_root),
                           "loads_start": os.getloadavg(), "trainer_channels_last":
                           default_channels_last(torch.device("cpu"))}
    out["settings"] = measure_settings(args)
    folder = Path(tempfile.mkdtemp(prefix="lvae_bench_trainer_"))
    try:
        out["paired"] = [measure_trainer_vs_bare(args, folder, r) for r in range(args.repeats)]
        out["parts"] = measure_parts(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    trainer_s = median([t for p in out["paired"] for t in p.trainer_cpu])
    out["below_peak_target"] = out["flops"] / trainer_s / 1e9 < PEAK_TARGET * out["cpu"].core_peak
    if out["below_peak_target"] or args.profile:
        out["profile"] = measure_profile(args.data_root)
    out["elapsed_s"] = time.perf_counter() - started
    return out


# ------------------------------------------------------------------ print
def pct(gflops: float, peak: float) -> str:
    return f"{gflops:7.1f} GFLOP/s = {100 * gflops / peak:5.1f}%"


def print_machine(r: dict[str, Any]) -> None:
    c: CpuInfo = r["cpu"]
    print(f"torch {torch.__version__}; {c.model}; {c.cores} CPUs; load average "
          f"{' '.join(f'{x:.2f}' for x in r['loads_start'])} (1/5/15 min)")
    print(f"vector ISA: {c.isa} (torch capability {c.capability}; /proc/cpuinfo flags agree)")
    print(f"clock: {c.ghz:.2f} GHz from {c.ghz_source}; {c.fma_note}")
    print(f"peak of ONE core (fp32): {c.ghz:.2f} GHz x {c.fma_units} FMA units x {c.lanes} lanes x 2 "
          f"= {c.core_peak:.1f} GFLOP/s (turbo, or AVX-512 down-clocking, move the real peak)")
    print(f"FLOPs per step (forward + backward, batch 64, FlopCounterMode): {r['flops'] / 1e9:.3f} GFLOP")


def print_settings(r: dict[str, Any], args: argparse.Namespace) -> None:
    variants, peak, flops = r["settings"], r["cpu"].core_peak, r["flops"]
    base = variants[0]
    print(f"\n== 2. bare step settings: median of {args.rounds} interleaved rounds of {args.round_steps} "
          f"steps; 'vs base' = speed relative to [{base.setting.label}], median of same-round ratios, "
          "of wall time and of CPU time ==")
    print(f"   {'setting':<36} {'ms/step':>8} {'steps/s':>7} {'vs base':>7} {'CPU':>6} {'per wall second: % of peak':>28} "
          f"{'per CPU second':>28} {'max rel dloss':>13} {'load':>5}")
    for v in variants:
        if v.run is None:
            print(f"   {v.setting.label:<36} FAILED: {v.error}")
            continue
        t = median(v.times)
        rel = float(((v.losses - base.losses).abs() / base.losses.abs()).max())
        c = median(v.cpu_times)
        print(f"   {v.setting.label:<36} {t * 1e3:8.1f} {1 / t:7.2f} {paired(base.times, v.times):6.2f}x "
              f"{paired(base.cpu_times, v.cpu_times):5.2f}x "
              f"{pct(flops / t / 1e9, peak * v.setting.threads):>28} {pct(flops / c / 1e9, peak):>28} "
              f"{rel:13.2e} {median(v.loads):5.2f}")
    cl = next(v for v in variants if v.setting.channels_last and v.setting.threads == 1)
    speedup = paired(base.cpu_times, cl.cpu_times) if cl.run is not None else float("nan")
    faster = speedup > 1
    choice = "channels-last" if r["trainer_channels_last"] else "contiguous"
    agree = faster == r["trainer_channels_last"]
    print(f"   the trainer picks {choice} on {r['cpu'].capability} (lvae/device.py); measured here: "
          f"{'channels-last' if faster else 'contiguous'} faster at one thread (channels-last takes "
          f"{1 / speedup:.3f}x the CPU time of contiguous, median of same-round ratios) -> "
          f"{'the pick holds' if agree else 'THE PICK IS WRONG ON THIS MACHINE'}")
    print("   per wall second: of one core's peak x threads; per CPU second: FLOPs over the process's CPU "
          "time, against one core's peak (what a core achieved while it ran the step)")
    print("   bf16 runs on AMX/AVX-512-BF16 units where present, "
          "so its % of the fp32 peak is not an efficiency")


def ratios(p: Paired, cpu: bool) -> list[float]:
    """bare / trainer time per same-segment pair (steps/s ratio trainer over bare)."""
    t, b = (p.trainer_cpu, p.bare_cpu) if cpu else (p.trainer, p.bare)
    return [y / x for x, y in zip(t, b, strict=True)]


def print_ratio(r: dict[str, Any]) -> float:
    runs: list[Paired] = r["paired"]
    print(f"\n== 3. trainer vs bare loop, one thread, the trainer's layout; {len(runs)} repeats of "
          f"{len(runs[0].trainer)} {LOG_EVERY}-step segment pairs ==")
    for i, p in enumerate(runs, 1):
        print(f"   repeat {i}: trainer {1 / median(p.trainer):.2f} steps/s, bare {1 / median(p.bare):.2f} "
              f"steps/s; segment ratios wall {' '.join(f'{v:.2f}' for v in ratios(p, False))}, "
              f"CPU time {' '.join(f'{v:.2f}' for v in ratios(p, True))} (load {p.load:.2f})")
    wall = median([v for p in runs for v in ratios(p, False)])
    cpu = median([v for p in runs for v in ratios(p, True)])
    trainer = median([t for p in runs for t in p.trainer])
    bare = median([b for p in runs for b in p.bare])
    parts: Parts = r["parts"]
    per_step = parts.data_host + parts.record / LOG_EVERY + parts.checkpoint / CHECKPOINT_EVERY
    print(f"   trainer {1 / trainer:.2f} steps/s, bare {1 / bare:.2f} steps/s (wall, medians of segments)")
    print(f"   parts: batch on the host {parts.data_host * 1e6:.0f} us, on the device path "
          f"{parts.data_device * 1e6:.0f} us (on CPU the trainer uses the host path); TensorBoard record "
          f"{parts.record * 1e3:.2f} ms per {LOG_EVERY} steps; checkpoint {parts.checkpoint * 1e3:.1f} ms per "
          f"{CHECKPOINT_EVERY} -> {per_step * 1e3:.3f} ms/step, projected ratio {bare / (bare + per_step):.4f}")
    verdict = "PASS" if cpu >= RATIO_TARGET else "FAIL"
    print(f"   RATIO trainer/bare, median of same-segment ratios: CPU time {cpu:.3f} (target >= {RATIO_TARGET}: "
          f"{verdict}), wall clock {wall:.3f} (moved by the other processes on the cores)")
    return cpu


def print_peak(r: dict[str, Any]) -> None:
    peak, flops = r["cpu"].core_peak, r["flops"]
    cpu = median([t for p in r["paired"] for t in p.trainer_cpu])
    wall = median([t for p in r["paired"] for t in p.trainer])
    g = flops / cpu / 1e9
    verdict = "PASS" if g >= PEAK_TARGET * peak else "SHORT (profile below)"
    print(f"\n== 4. training step vs one core's fp32 peak ({peak:.1f} GFLOP/s), trainer at one thread ==")
    print(f"   per CPU second: {pct(g, peak)} of peak; target >= {PEAK_TARGET:.0%}: {verdict}")
    print(f"   per wall second: {pct(flops / wall / 1e9, peak)} of peak (load {median([p.load for p in r['paired']]):.2f})")
    if "profile" in r:
        print_profile(r["profile"], peak)


def print_profile(p: dict[str, Any], peak: float) -> None:
    layers = p["layers"]
    total = sum(row["fwd"] + row["bwd"] for row in layers.values())
    print(f"\n   per-layer forward/backward (module hooks, CPU time; {p['hooked_step_s'] * 1e3:.0f} ms/step with "
          f"hooks, {total * 1e3:.0f} ms inside layers; backward FLOPs 2x forward; the first layer's weight "
          "gradient runs outside its hooks, as its input needs no gradient)")
    print(f"   {'layer':<14} {'kind':<16} {'fwd ms':>7} {'bwd ms':>7} {'GFLOP':>6} {'fwd %pk':>7} {'bwd %pk':>7} {'share':>6}")
    first = True
    for name, row in layers.items():
        if row["fwd"] + row["bwd"] < 1e-4 * total:
            continue
        gf = row["flops"] / 1e9
        bwd_gf = gf * (1 if first and gf else 2)
        first = first and not gf
        f_pk = 100 * gf / row["fwd"] / peak if gf else 0.0
        b_pk = 100 * bwd_gf / row["bwd"] / peak if gf and row["bwd"] else 0.0
        print(f"   {name:<14} {row['kind']:<16} {row['fwd'] * 1e3:7.1f} {row['bwd'] * 1e3:7.1f} {gf:6.3f} "
              f"{f_pk:6.1f}% {b_pk:6.1f}% {100 * (row['fwd'] + row['bwd']) / total:5.1f}%")
    print("\n   top operators by self time per step (torch.profiler; wall clock, so inflated by load)")
    for key, seconds in p["ops"]:
        print(f"   {key:<44} {seconds * 1e3:8.2f} ms")


def print_report(r: dict[str, Any], args: argparse.Namespace) -> float:
    print("== 1. machine ==")
    print_machine(r)
    print_settings(r, args)
    ratio = print_ratio(r)
    print_peak(r)
    print(f"\n(took {r['elapsed_s']:.0f} s; load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    return ratio


# ------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=6, help="interleaved rounds of the settings")
    p.add_argument("--round-steps", type=int, default=8, help="timed steps per setting per round")
    p.add_argument("--repeats", type=int, default=3, help="trainer-vs-bare runs")
    p.add_argument("--steps", type=int, default=150, help="timed trainer steps per run (multiple of 50)")
    p.add_argument("--compile", action="store_true", help="also time the compiled forward (minutes to compile)")
    p.add_argument("--profile", action="store_true", help="print the per-layer profile even at target")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 rounds of 2 steps, 1 repeat of 50 steps")
    p.add_argument("--data-root", default=None, help="data folder (default $LVAE_DATA)")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.round_steps, args.repeats, args.steps = 2, 2, 1, 50
    if args.steps % LOG_EVERY or args.steps < LOG_EVERY:
        p.error(f"--steps must be a positive multiple of {LOG_EVERY}, got {args.steps}")
    for name in ("rounds", "round_steps", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def check_data(root: str | None) -> None:
    """Refuse to start when the cache is missing: building it would take minutes."""
    cache = ProceduralGridCache(resolve_root(root) / NAME)
    if not cache.path.exists():
        raise SystemExit(
            f"error: no procedural dSprites cache at {cache.path}; set LVAE_DATA (or --data-root) "
            "to the folder that holds dsprites_procedural/ (benchmarks/bench_data.py --root builds one)"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_data(args.data_root)
    ratio = print_report(measure(args), args)
    return 0 if ratio >= RATIO_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
