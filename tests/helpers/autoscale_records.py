"""What an autoscaling run recorded, in the terms of issue #21's checks: the worker
nodes the GCS listed over time (tests/helpers/fake_cluster.py samples them) and what
the sweep's driver wrote for each trial (results.csv, Tune's result.json)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_ID

from helpers.sweep_helpers import trial_span, tune_results

if TYPE_CHECKING:
    import pandas as pd


def short(node_id: str) -> str:
    """The fake provider's node ids count up (ff...f00001): ``w1`` for the first worker."""
    return "head" if node_id == FAKE_HEAD_NODE_ID else f"w{int(node_id[-5:])}"


#: Tune's result timestamps are whole seconds: two trials count as concurrent only where
#: their spans overlap by more than this (one that follows another on a reused actor may
#: seem to overlap it by up to a second)
SLACK_S = 1.0


def trial_records(exp: Path) -> pd.DataFrame:
    """results.csv, each row with the trial's logical GPU (``gpu_ids``) and span
    (``start``, ``end``) and its count of final reports, from Tune's result.json: all
    written by the sweep's driver."""
    import pandas as pd

    df = pd.read_csv(exp / "results.csv")
    extra = []
    for trial_dir in df["trial_dir"]:
        lines = tune_results(exp / trial_dir)
        start, end = trial_span(lines)
        extra.append({"gpu_ids": str(lines[-1].get("gpu_ids", "")), "start": start, "end": end,
                      "final_reports": sum(bool(r.get("done_training")) for r in lines)})
    return pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1)


def peak_concurrent(spans: list[tuple[float, float]]) -> int:
    """The most spans running at once (overlaps of at most SLACK_S do not count)."""
    events = sorted([(a + SLACK_S / 2, 1) for a, b in spans if b - a > SLACK_S]
                    + [(b - SLACK_S / 2, -1) for a, b in spans if b - a > SLACK_S])
    running = peak = 0
    for _, step in events:  # at one instant, ends (-1) sort before starts (+1)
        running += step
        peak = max(peak, running)
    return peak


def per_gpu(df: pd.DataFrame) -> pd.DataFrame:
    """Trials per logical GPU (node, GPU id) and the most that ran on it at once."""
    import pandas as pd

    rows = []
    for (node, gpu), group in df.groupby(["node_id", "gpu_ids"]):
        spans = list(zip(group["start"], group["end"], strict=True))
        rows.append({"node": short(node), "gpu": gpu, "trials": len(group),
                     "peak_concurrent": peak_concurrent(spans)})
    return pd.DataFrame(rows, columns=["node", "gpu", "trials", "peak_concurrent"])


def worker_timeline(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per worker node the GCS listed: its resources, when it first appeared and the
    trials pending in the sample before, its last sample with GPU in use, when it was gone."""
    nodes: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(samples):
        for node, used in row["gpu"].items():
            info = nodes.setdefault(node, {
                "resources": row["resources"][node], "added": row["t"],
                "pending_before": samples[i - 1]["pending"] if i else 0,
                "busy_until": None, "gone": None})
            if used > 0:
                info["busy_until"] = row["t"]
        for node, info in nodes.items():
            if node not in row["gpu"] and info["gone"] is None:
                info["gone"] = row["t"]
    for info in nodes.values():
        if info["gone"] is not None:
            info["idle_s"] = round(info["gone"] - (info["busy_until"] or info["added"]), 1)
    return nodes


def summary(run: dict[str, Any], df: pd.DataFrame) -> str:
    """The run in a few lines: workers over time, trials per node and per logical GPU."""
    lines = [f"sweep exit code {run['returncode']}; {len(df)} trials in {run['exp']}; "
             f"whole run {run['wall_s']} s",
             "worker nodes over time (t s: n): " + ", ".join(
                 f"{t}: {n}" for t, n in changes(run["samples"]))]
    for node, info in worker_timeline(run["samples"]).items():
        lines.append(f"  {short(node)} {info['resources']}: added at {info['added']} s "
                     f"({info['pending_before']} trials pending), busy until "
                     f"{info['busy_until']} s, gone at {info['gone']} s "
                     f"(idle {info.get('idle_s')} s)")
    per_node = df.groupby("node_id")["trial_id"].count().rename(index=short)
    lines.append("trials per node: " + ", ".join(f"{n} {c}" for n, c in per_node.items()))
    lines.append("trials per logical GPU:\n" + per_gpu(df).to_string(index=False))
    lines.append(f"processes stopped at teardown: {len(run['stopped'])}; "
                 f"left running: {run['left'] or 'none'}")
    return "\n".join(lines)


def changes(samples: list[dict[str, Any]]) -> list[tuple[float, int]]:
    """(t, worker count) at the first sample and wherever the count changed."""
    return [(s["t"], s["workers"]) for i, s in enumerate(samples)
            if i == 0 or s["workers"] != samples[i - 1]["workers"]]
