"""What bench_trainer.py and bench_gpu.py share: nan-safe medians, the bare loop and its
timing, the trainer timed between its records against that loop, their run config, and
the PASS/FAIL wording, so both benchmarks measure the same thing the same way.

Below those, parts only one of them uses, kept here so that no benchmark module passes 400
lines: the tiny stand-in data and windowed timing of bench_gpu; the CPU's peak and the
per-layer profile of bench_trainer."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from lvae.config import TrainConfig
from lvae.data import GroundTruthDataset
from lvae.device import cpu_capability
from lvae.train import Run, Trainer, build_run, train_step

#: the trainer's record cadence (TrainConfig's defaults), fixed here so a new default
#: does not move the benchmarks
LOG_EVERY, CHECKPOINT_EVERY, IMAGE_EVERY = 50, 500, 1000
#: trainer steps/s over the bare loop's, the target of both benchmarks
RATIO_TARGET = 0.95


# ------------------------------------------------------------------ numbers
def median(values: Iterable[float]) -> float:
    """nan for no values: a setting that failed has none, and its row still prints."""
    values = list(values)
    return statistics.median(values) if values else float("nan")


def paired(a: list[float], b: list[float]) -> float:
    """Median of a[i] / b[i]: measurements taken close together share the machine's mood."""
    return median([x / y for x, y in zip(a, b, strict=True)])


def joined(values: Iterable[float], spec: str = ".2f") -> str:
    return " ".join(format(v, spec) for v in values)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def error_text(exc: BaseException) -> str:
    """Type and first line only: a failed variant (no compiler, say) is a one-line result."""
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


# --------------------------------------------------------------- run config
def bench_config(data_root: str | None, **overrides: Any) -> TrainConfig:
    """One intra-op thread (as sweeps run each trial) and the fixed record cadence."""
    fields = dict(data_root=data_root, threads=1, log_every=LOG_EVERY,
                  checkpoint_every=CHECKPOINT_EVERY, image_every=IMAGE_EVERY)
    return TrainConfig(**{**fields, **overrides})


# ---------------------------------------------------------------- bare loop
def bare_step(run: Run, x: torch.Tensor) -> torch.Tensor:
    """The trainer's step without the trainer; returns the [total, recon, kl] losses."""
    losses = train_step(run, x)[0]
    run.step += 1
    return losses


def bare_steps(run: Run, steps: int, x: torch.Tensor | None = None) -> None:
    """On ``x``, or on batches the run's sampler draws (as the trainer draws them)."""
    for _ in range(steps):
        bare_step(run, run.sampler.batch(run.config.batch_size) if x is None else x)


@dataclass
class Timing:
    """Seconds per step: wall clock, and CPU time of this process (all its threads). On a
    shared machine the CPU time is what the step cost while it ran; the wall clock adds
    the time other processes held the cores."""

    wall: float
    cpu: float


def time_bare(run: Run, steps: int, x: torch.Tensor | None = None, warmup: int = 0) -> Timing:
    bare_steps(run, warmup, x)
    start, cpu = time.perf_counter(), time.process_time()
    bare_steps(run, steps, x)
    return Timing((time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps)


def time_calls(fn: Callable[[], Any], n: int) -> float:
    """Median seconds of ``n`` calls."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


# ---------------------------------------------------------- trainer vs bare
@dataclass
class TrainerClock:
    """A Trainer hook timing the segments between records, the hook's own time left out.
    The segment before the first record (warm-up) is dropped. ``twin(steps)`` runs in the
    hook after each kept segment, so a bare loop meets the same machine as the trainer."""

    twin: Callable[[int], Timing] | None = None
    steps: list[int] = field(default_factory=list)  # trainer steps per kept segment
    trainer: list[float] = field(default_factory=list)  # wall s/step per segment
    trainer_cpu: list[float] = field(default_factory=list)  # CPU s/step per segment
    bare: list[float] = field(default_factory=list)  # the twin's, when there is one
    bare_cpu: list[float] = field(default_factory=list)
    last: tuple[int, float, float] | None = None  # (step, wall, CPU) as the hook left

    def __call__(self, record: dict[str, Any]) -> None:
        entered, cpu = time.perf_counter(), time.process_time()
        if self.last is not None:
            n = record["step"] - self.last[0]
            self.steps.append(n)
            self.trainer.append((entered - self.last[1]) / n)
            self.trainer_cpu.append((cpu - self.last[2]) / n)
            if self.twin is not None:
                t = self.twin(n)
                self.bare.append(t.wall)
                self.bare_cpu.append(t.cpu)
        self.last = (record["step"], time.perf_counter(), time.process_time())

    def steps_per_s(self) -> float:
        """The trainer's steps/s over all kept segments (wall clock)."""
        return sum(self.steps) / sum(t * n for t, n in zip(self.trainer, self.steps, strict=True))

    def ratios(self, cpu: bool) -> list[float]:
        """bare / trainer time per same-segment pair (steps/s ratio trainer over bare)."""
        t, b = (self.trainer_cpu, self.bare_cpu) if cpu else (self.trainer, self.bare)
        return [y / x for x, y in zip(t, b, strict=True)]


def fit_timed(config: TrainConfig, twin: Callable[[int], Timing] | None = None) -> TrainerClock:
    """``Trainer.fit`` with a :class:`TrainerClock` as its hook."""
    clock = TrainerClock(twin)
    Trainer(config, hook=clock).fit()
    return clock


# ------------------------------------------------- bench_gpu: data and windows
class RandomBits(GroundTruthDataset):
    """512 random binary images with two made-up factors: data for --tiny runs."""

    name = "bench_random_bits"
    factor_names = ("a", "b")
    factor_sizes = (8, 64)

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.images = (rng.random((len(self), 1, 64, 64)) < 0.2).astype(np.float32)

    def observations(self, indices: np.ndarray) -> np.ndarray:
        return self.images[np.asarray(indices, dtype=np.int64)]


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_windows(run: Run, windows: int, seconds: float, warmup: int) -> list[float]:
    """steps/s of ``windows`` timed windows of the hot loop (sampler + train_step)."""
    device = str(run.device)
    bare_steps(run, warmup)
    synchronize(device)
    rates = []
    for _ in range(windows):
        start, steps = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            bare_steps(run, 10)  # check the clock every 10 steps: the queue stays full
            steps += 10
            if steps % 100 == 0:
                synchronize(device)
        synchronize(device)
        rates.append(steps / (time.perf_counter() - start))
    return rates


# ------------------------------------------------- bench_trainer: CPU machine
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


def vector_units(capability: str, flags: set[str]) -> tuple[str, int, int, str]:
    """(ISA, fp32 lanes, FMA units, note): AVX-512 only where torch and the flags agree;
    the FMA-unit count cannot be read from the CPU, so it is an assumption, stated."""
    if capability.startswith("AVX512") and "avx512f" in flags:
        return ("AVX-512", 16, 2, "2 FMA units per core assumed (Xeon server parts with two "
                "512-bit FMA ports; some have one)")
    if capability.startswith("AVX2") or "avx2" in flags:
        return "AVX2", 8, 2, "2 FMA units per core assumed (Haswell and later)"
    return "SSE", 4, 1, "1 vector unit per core assumed"


def detect_cpu() -> CpuInfo:
    """Model, ISA and clock of this machine, from /proc/cpuinfo and torch."""
    path = Path("/proc/cpuinfo")
    text = path.read_text() if path.exists() else ""
    flags_line = re.search(r"^flags\s*:(.*)$", text, re.M)
    flags = set(flags_line.group(1).split()) if flags_line else set()
    capability = cpu_capability()
    model = (re.search(r"^model name\s*:\s*(.*)$", text, re.M) or [None, "unknown"])[1]
    isa, lanes, units, note = vector_units(capability, flags)
    ghz, source = read_clock(text)
    return CpuInfo(model, capability, isa, lanes, units, note, ghz, source, os.cpu_count() or 1)


# ------------------------------------------- bench_trainer: FLOPs and profile
def flops_per_step(data_root: str | None) -> int:
    """FLOPs of one forward + backward (Adam's elementwise work is not counted)."""
    run = build_run(bench_config(data_root))
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


def attach_layer_timers(model: torch.nn.Module, table: dict[str, dict[str, Any]]) -> list[Any]:
    """Forward and backward CPU time of this thread per leaf module (one intra-op thread
    and synchronous CPU kernels, so hooks time the layer; other processes do not count).

    Full backward hooks refuse in-place outputs, so in-place activations of the (throwaway,
    profiled) model are switched to out-of-place; an out-of-place ReLU costs one more
    buffer, a small share of a conv layer's time."""
    handles = []
    for name, module in model.named_modules():
        if list(module.children()):
            continue
        if getattr(module, "inplace", False):
            module.inplace = False
        row = table.setdefault(name, {"kind": type(module).__name__, "fwd": 0.0, "bwd": 0.0,
                                      "flops": 0})
        start: dict[str, float] = {}

        def pre(m: Any, inp: Any, start: dict[str, float] = start) -> None:
            start["f"] = time.thread_time()

        def post(m: Any, inp: Any, out: Any, row: dict[str, Any] = row,
                 start: dict[str, float] = start) -> None:
            row["fwd"] += time.thread_time() - start["f"]
            row["flops"] = layer_flops(m, inp[0], out)

        def bpre(m: Any, grad_out: Any, start: dict[str, float] = start) -> None:
            start["b"] = time.thread_time()

        def bpost(m: Any, grad_in: Any, grad_out: Any, row: dict[str, Any] = row,
                  start: dict[str, float] = start) -> None:
            row["bwd"] += time.thread_time() - start["b"]

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post),
                    module.register_full_backward_pre_hook(bpre),
                    module.register_full_backward_hook(bpost)]
    return handles


def measure_profile(data_root: str | None, steps: int = 4) -> dict[str, Any]:
    """Per-layer forward/backward seconds per step, and torch.profiler's top operators."""
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    run = build_run(bench_config(data_root))
    x = run.sampler.batch(64)
    time_bare(run, 2, x)
    table: dict[str, dict[str, Any]] = {}
    handles = attach_layer_timers(run.model, table)
    step_s = time_bare(run, steps, x).cpu
    for h in handles:
        h.remove()
    for row in table.values():
        row["fwd"] /= steps
        row["bwd"] /= steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        time_bare(run, steps, x)
    ops = [(e.key, e.self_cpu_time_total / 1e6 / steps) for e in prof.key_averages()]  # wall
    ops.sort(key=lambda kv: -kv[1])
    return {"layers": table, "hooked_step_s": step_s, "ops": ops[:12]}


def print_profile(p: dict[str, Any], peak: float) -> None:
    layers = p["layers"]
    total = sum(row["fwd"] + row["bwd"] for row in layers.values())
    print("\n   per-layer forward/backward (module hooks, CPU time; "
          f"{p['hooked_step_s'] * 1e3:.0f} ms/step with hooks, {total * 1e3:.0f} ms inside "
          "layers; backward FLOPs 2x forward; "
          "the first layer's weight gradient runs outside its hooks, as its input needs no "
          "gradient)")
    print(f"   {'layer':<14} {'kind':<16} {'fwd ms':>7} {'bwd ms':>7} {'GFLOP':>6} "
          f"{'fwd %pk':>7} {'bwd %pk':>7} {'share':>6}")
    first = True
    for name, row in layers.items():
        if row["fwd"] + row["bwd"] < 1e-4 * total:
            continue
        gf = row["flops"] / 1e9
        bwd_gf = gf * (1 if first and gf else 2)
        first = first and not gf
        f_pk = 100 * gf / row["fwd"] / peak if gf else 0.0
        b_pk = 100 * bwd_gf / row["bwd"] / peak if gf and row["bwd"] else 0.0
        print(f"   {name:<14} {row['kind']:<16} {row['fwd'] * 1e3:7.1f} {row['bwd'] * 1e3:7.1f} "
              f"{gf:6.3f} {f_pk:6.1f}% {b_pk:6.1f}% "
              f"{100 * (row['fwd'] + row['bwd']) / total:5.1f}%")
    print("\n   top operators by self time per step (torch.profiler; wall clock, so inflated "
          "by load)")
    for key, seconds in p["ops"]:
        print(f"   {key:<44} {seconds * 1e3:8.2f} ms")
