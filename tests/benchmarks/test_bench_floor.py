"""benchmarks/bench_floor.py: one untrained encoder's cost per metric at a preset's settings,
scored through the floor's own code path."""

from __future__ import annotations

import re
import subprocess
import sys

from helpers.paths import REPO


def test_prints_each_metric_and_the_groups_cost_against_the_budget():
    proc = subprocess.run([sys.executable, "benchmarks/bench_floor.py", "--preset", "smoke",
                           "--metrics", "mig,sap"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "smoke settings: 400 / 200 samples" in out
    for metric in ("mig", "sap"):
        assert re.search(rf"^  {metric}\s+[\d.]+ s CPU\s+[\d.]+ s wall$", out, re.M), out
    assert re.search(r"the floor of one group \(5 encoders\): \d+ CPU-s = [\d.]+ x the report's "
                     r"600 s budget", out), out
