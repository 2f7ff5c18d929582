"""benchmarks/common.py: the numbers both benchmarks report come out of these helpers, so a
slip here (a warm-up segment kept, the hook's own time billed to the trainer, a step
miscounted) would move every trainer/bare ratio without any benchmark failing."""

from __future__ import annotations

import math
import sys
from types import SimpleNamespace

import pytest
import torch
from helpers.paths import REPO

if str(REPO) not in sys.path:  # benchmarks/ is a folder of scripts, not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks import common  # noqa: E402


def test_numbers() -> None:
    assert math.isnan(common.median([]))
    assert common.median(iter([3.0, 1.0, 2.0])) == 2.0
    assert common.paired([2.0, 9.0, 4.0], [1.0, 3.0, 1.0]) == 3.0  # median of 2, 3, 4
    with pytest.raises(ValueError):
        common.paired([1.0], [1.0, 2.0])
    assert common.joined([1, 2.345]) == "1.00 2.35"
    assert common.joined([10.04], ".1f") == "10.0"
    assert (common.verdict(True), common.verdict(False)) == ("PASS", "FAIL")
    assert common.error_text(RuntimeError("no compiler\nlong trace")) == "RuntimeError: no compiler"
    assert common.error_text(KeyError()) == "KeyError: "


def test_bench_config_defaults_and_overrides() -> None:
    c = common.bench_config("/data", precision="bf16", log_every=10)
    assert (c.data_root, c.threads, c.precision, c.log_every) == ("/data", 1, "bf16", 10)
    assert (c.checkpoint_every, c.image_every) == (common.CHECKPOINT_EVERY, common.IMAGE_EVERY)


def test_trainer_clock_drops_warm_up_and_bills_the_twin_to_nobody(monkeypatch) -> None:
    now = [0.0]
    monkeypatch.setattr(common.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(common.time, "process_time", lambda: now[0] / 2)
    asked: list[int] = []

    def twin(steps: int) -> common.Timing:
        asked.append(steps)
        now[0] += 100.0  # a long bare segment inside the hook
        return common.Timing(0.4, 0.3)

    clock = common.TrainerClock(twin)
    clock({"step": 50})  # closes the warm-up segment: not kept, no twin
    now[0] += 10.0
    clock({"step": 100})
    now[0] += 20.0
    clock({"step": 125})  # a shorter last segment
    assert asked == [50, 25] and clock.steps == [50, 25]
    assert clock.trainer == pytest.approx([0.2, 0.8])  # the twin's 100 s are in neither
    assert clock.trainer_cpu == pytest.approx([0.1, 0.4])
    assert (clock.bare, clock.bare_cpu) == ([0.4, 0.4], [0.3, 0.3])
    assert clock.steps_per_s() == pytest.approx(75 / 30)
    assert clock.ratios(cpu=False) == pytest.approx([2.0, 0.5])
    assert clock.ratios(cpu=True) == pytest.approx([3.0, 0.75])


def fake_run(monkeypatch) -> SimpleNamespace:
    """A run whose step records its batch instead of training."""
    seen: list[torch.Tensor] = []
    monkeypatch.setattr(common, "train_step", lambda run, x: (seen.append(x) or x.sum(), 0, 0))
    sampler = SimpleNamespace(batch=lambda n: torch.full((n,), 2.0))
    return SimpleNamespace(step=0, seen=seen, sampler=sampler, device=torch.device("cpu"),
                           config=SimpleNamespace(batch_size=3))


def test_bare_steps_use_the_batch_or_the_sampler(monkeypatch) -> None:
    run = fake_run(monkeypatch)
    x = torch.ones(5)
    assert common.bare_step(run, x) == 5.0 and run.step == 1
    common.bare_steps(run, 2, x)
    common.bare_steps(run, 2)
    assert run.step == 5
    assert [t.shape[0] for t in run.seen] == [5, 5, 5, 3, 3]  # sampler draws config.batch_size
    t = common.time_bare(run, 4, x, warmup=2)
    assert run.step == 11 and t.wall >= 0 and t.cpu >= 0


def test_time_windows_counts_steps_in_tens(monkeypatch) -> None:
    run = fake_run(monkeypatch)
    rates = common.time_windows(run, windows=2, seconds=0.01, warmup=3)
    assert len(rates) == 2 and all(r > 0 for r in rates)
    assert run.step > 3 and (run.step - 3) % 10 == 0


def test_cpu_model() -> None:
    assert common.read_clock("cpu MHz\t: 2600.000\ncpu MHz\t: 3000.5\n") == (
        3.0005, "/proc/cpuinfo 'cpu MHz'")
    assert common.vector_units("AVX512", {"avx512f", "avx2"})[:3] == ("AVX-512", 16, 2)
    assert common.vector_units("AVX512", {"avx2"})[:3] == ("AVX2", 8, 2)  # flags must agree
    assert common.vector_units("DEFAULT", set())[:3] == ("SSE", 4, 1)
    cpu = common.CpuInfo("m", "AVX512", "AVX-512", 16, 2, "", 2.6, "", 2)
    assert cpu.core_peak == pytest.approx(166.4)


def test_layer_flops_count_two_per_multiply_add() -> None:
    x = torch.zeros(1, 2, 8, 8)
    conv = torch.nn.Conv2d(2, 4, 3)
    assert common.layer_flops(conv, x, conv(x)) == 2 * (4 * 6 * 6) * (3 * 3 * 2)
    up = torch.nn.ConvTranspose2d(2, 4, 3)
    assert common.layer_flops(up, x, up(x)) == 2 * x.numel() * (3 * 3 * 4)
    lin = torch.nn.Linear(5, 7)
    v = torch.zeros(3, 5)
    assert common.layer_flops(lin, v, lin(v)) == 2 * 3 * 7 * 5
    assert common.layer_flops(torch.nn.ReLU(), v, v) == 0


def test_layer_timers_time_the_conv_model_with_in_place_activations() -> None:
    # the conv model's ReLUs work in place, which full backward hooks refuse: the profile
    # of bench_trainer crashed on it whenever a step ran below 45% of the core's peak
    from lvae.models import get_model

    model = get_model("conv", num_channels=1, latent_dim=4)
    table: dict = {}
    handles = common.attach_layer_timers(model, table)
    mu, logvar = model.encode(torch.rand(2, 1, 64, 64))
    (mu.sum() + logvar.sum()).backward()
    for h in handles:
        h.remove()
    relus = [row for row in table.values() if row["kind"] == "ReLU"]
    assert relus and all(row["bwd"] >= 0 for row in relus)
    assert sum(row["fwd"] for row in table.values()) > 0
