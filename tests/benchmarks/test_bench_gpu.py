"""benchmarks/bench_gpu.py, the prepared device check, keeps working: run at --tiny on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers.paths import REPO


def test_bench_gpu_runs_tiny_on_cpu(tmp_path):
    out = tmp_path / "bench.json"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_gpu.py"),
         "--tiny", "--device", "cpu", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for heading in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5.", "== 6."):
        assert heading in proc.stdout, heading
    r = json.loads(out.read_text())
    singles = {s["variant"]: s for s in r["single"]}
    assert set(singles) == {"fp32", "bf16", "compiled"}  # no CUDA graphs off CUDA
    assert all(s["error"] is None and s["steps_per_s"] > 0 for s in singles.values()), singles
    assert r["trainer"]["trainer"] > 0 and r["trainer"]["bare"] > 0
    assert r["host_syncs"] is None  # CUDA only; tests/lvae/test_train.py counts host reads on CPU
    # the same weights, batch and noise on the same device: fp32 agrees exactly
    assert r["agreement"]["fp32"]["first"] == 0.0 and r["agreement"]["bf16"]["first"] < 0.01
    (packed,) = r["packing"]
    assert packed["processes"] == 2 and not packed["errors"] and len(packed["per_process"]) == 2
    assert r["best"]["trials_per_hour"] > 0
    # torch's cache
    left = [p.name for p in scratch.iterdir() if not p.name.startswith("torchinductor")]
    assert not left, f"run folders and barriers are removed at exit, found {left}"
