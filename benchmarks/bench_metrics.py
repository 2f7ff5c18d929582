"""Timings of the metrics at disentanglement_lib's sizes, and the fast DCI probe's agreement.

    python benchmarks/bench_metrics.py                       # full sizes (GBT takes minutes)
    python benchmarks/bench_metrics.py --num-train 2000 --num-test 1000   # quick run
    python benchmarks/bench_metrics.py --runs results/lvae_reg-local/*/run --skip-serial
    python benchmarks/bench_metrics.py --codes a.npz b.npz   # saved codes of trained models

``--runs`` encodes 10,000 / 5,000 images (``--num-train`` / ``--num-test``) with each
trained run's final checkpoint; ``--codes`` takes npz files with codes_train,
factors_train, codes_test, factors_test (codes (N, D) float, factors (N, K) int); the
serial GBT run is done on the first set only. Without either the codes are synthesised: a
nonlinear, partly entangled function of the 5 dSprites factors, as a trained VAE's
encoder means are (a deterministic function of the image, hence of the factors), plus
collapsed dims that carry a faint smooth function of the factors and a little noise.

Targets: MIG on 10,000 x 10 codes < 0.5 s (median); the fast probe >= 10x faster than
GBT with |difference| <= 0.05 on disentanglement and completeness; the parallel GBT
run gives the same scores as n_jobs=1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lvae.metrics import dci, mig  # noqa: E402

DSPRITES_SIZES = (3, 6, 40, 32, 32)  # shape, scale, orientation, pos_x, pos_y


def synthetic_codes(
    num_points: int, rng: np.random.Generator, entangle: float = 0.3, num_codes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """(codes (N, num_codes), factors (N, 5)) mimicking a beta-VAE trained on dSprites.

    Fixed structure (independent of rng): positions and scale each in one code through a
    saturating map, orientation in a shape-dependent (k-fold symmetric) cos/sin pair
    modulated by scale, shape only weakly and mixed with position; ``entangle`` mixes
    factors across those codes. The remaining codes are collapsed.
    """
    if num_codes < 7:
        raise ValueError(f"num_codes must be >= 7 (6 informative + collapsed), got {num_codes}")
    factors = rng.integers(0, DSPRITES_SIZES, size=(num_points, 5))
    shape, scale, orient, px, py = factors.T
    s = scale / 5 - 0.5
    x = px / 31 - 0.5
    y = py / 31 - 0.5
    theta = orient * 2 * np.pi / 39
    k = np.array([4, 2, 1])[shape]  # square, ellipse, heart symmetry
    sh = np.array([-0.6, 0.2, 0.5])[shape]
    sh2 = np.array([0.3, -0.4, 0.1])[shape]
    amp = np.array([0.3, 0.8, 0.6])[shape]
    e = entangle
    z = np.empty((num_points, num_codes))
    z[:, 0] = np.tanh(3 * (x + e * 0.3 * y))
    z[:, 1] = np.tanh(3 * (y - e * 0.3 * x)) + e * 0.2 * s
    z[:, 2] = 1.2 * s + e * 0.4 * sh + e * 0.1 * np.cos(k * theta)
    z[:, 3] = amp * (s + 1) * np.cos(k * theta) + e * sh2
    z[:, 4] = amp * (s + 1) * np.sin(k * theta) + 0.5 * e * sh
    z[:, 5] = 0.5 * sh + e * (x + y) / 2
    # Collapsed dims: a faint fixed smooth function of the factors.
    u = np.stack([x, y, s, np.cos(theta), np.sin(theta), sh], axis=1)
    fixed = np.random.default_rng(12345)
    w = fixed.normal(size=(num_codes - 6, 4, u.shape[1]))
    b = fixed.uniform(0, 2 * np.pi, size=(num_codes - 6, 4))
    z[:, 6:] = 0.03 * np.sin(np.einsum("nu,dmu->ndm", u, w) + b).sum(axis=2)
    z += 0.02 * rng.normal(size=z.shape)  # encoder imprecision
    return z, factors


def load_codes(path: Path) -> tuple[np.ndarray, ...]:
    """The four arrays from an npz, with errors that name the file and the field."""
    keys = ("codes_train", "factors_train", "codes_test", "factors_test")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in keys if k not in data]
        if missing:
            raise SystemExit(f"{path}: missing field(s) {missing}; expected {list(keys)}")
        return tuple(np.asarray(data[k]) for k in keys)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench_mig(codes: np.ndarray, factors: np.ndarray, repeats: int) -> None:
    times = [timed(mig, codes, factors)[1] for _ in range(repeats)]
    value = mig(codes, factors)["mig"]
    med = statistics.median(times)
    print(
        f"MIG  {codes.shape[0]} x {codes.shape[1]} codes, factor sizes "
        f"{[int(np.unique(c).size) for c in factors.T]}: median {med:.3f} s over {repeats} runs "
        f"(target < 0.5 s: {'ok' if med < 0.5 else 'MISSED'}), mig = {value:.4f}"
    )


def codes_of_run(run_dir: Path, num_train: int, num_test: int, seed: int) -> tuple[np.ndarray, ...]:
    """Mean codes of a trained run's final checkpoint on freshly sampled factors."""
    from lvae.evaluate import load_run, make_encoder
    from lvae.metrics.utils import sample_train_test

    run = load_run(run_dir)
    return sample_train_test(run.dataset, make_encoder(run.model), seed, num_train, num_test)


def bench_dci(arrays: tuple[np.ndarray, ...], fast_probe: str,
              skip_serial: bool) -> tuple[float, float, float]:
    """Times and scores of GBT (parallel, optionally serial) and the fast probe;
    returns (speed-up, disentanglement diff, completeness diff)."""
    n_tr, n_te = arrays[0].shape[0], arrays[2].shape[0]
    cores = os.cpu_count()
    print(f"DCI  {n_tr} train / {n_te} test, {arrays[0].shape[1]} codes, {arrays[1].shape[1]} "
          "factors")
    par, t_par = timed(dci, *arrays, probe="gbt", seed=0, n_jobs=None)
    print(f"  gbt  n_jobs=None ({cores} cores): {t_par:8.1f} s  {_fmt(par)}", flush=True)
    if not skip_serial:
        ser, t_ser = timed(dci, *arrays, probe="gbt", seed=0, n_jobs=1)
        print(f"  gbt  n_jobs=1:                {t_ser:8.1f} s  {_fmt(ser)}", flush=True)
        same = ser == par
        print(f"  identical scores serial vs parallel: {same}  (speed-up {t_ser / t_par:.2f}x)")
        if not same:
            raise SystemExit("parallel and serial GBT scores differ")
    fast, t_fast = timed(dci, *arrays, probe=fast_probe, seed=0, n_jobs=None)
    print(f"  {fast_probe} n_jobs=None:        {t_fast:8.1f} s  {_fmt(fast)}")
    d_diff = fast["disentanglement"] - par["disentanglement"]
    c_diff = fast["completeness"] - par["completeness"]
    ok = t_par / t_fast >= 10 and abs(d_diff) <= 0.05 and abs(c_diff) <= 0.05
    print(
        f"  {fast_probe} vs gbt: {t_par / t_fast:.1f}x faster, disentanglement diff {d_diff:+.4f}, "
        f"completeness diff {c_diff:+.4f}  (target >= 10x, |diff| <= 0.05: "
        f"{'ok' if ok else 'MISSED'})",
        flush=True,
    )
    return t_par / t_fast, d_diff, c_diff


_SHORT = {
    "disentanglement": "D",
    "completeness": "C",
    "informativeness_train": "I_train",
    "informativeness_test": "I_test",
}


def _fmt(scores: dict[str, float]) -> str:
    return " ".join(f"{_SHORT.get(k, k)}={v:.4f}" for k, v in scores.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codes", type=Path, nargs="*", default=[],
                        help="npz files with codes_train, factors_train, codes_test, factors_test")
    parser.add_argument("--runs", type=Path, nargs="*", default=[],
                        help="trained run folders (config.json + checkpoint.pt) to encode")
    parser.add_argument("--num-train", type=int, default=10000)
    parser.add_argument("--num-test", type=int, default=5000)
    parser.add_argument("--num-codes", type=int, default=10)
    parser.add_argument("--entangle", type=float, default=0.3,
                        help="mixing strength of the synthetic codes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mig-repeats", type=int, default=7)
    parser.add_argument("--fast-probe", default="hgb")
    parser.add_argument("--skip-serial", action="store_true", help="skip the n_jobs=1 GBT run")
    parser.add_argument("--skip-dci", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    sets: list[tuple[str, tuple[np.ndarray, ...]]] = []
    for path in args.codes:
        sets.append((f"codes from {path}", load_codes(path)))
    for run_dir in args.runs:
        codes = codes_of_run(run_dir, args.num_train, args.num_test, args.seed)
        sets.append((f"codes of run {run_dir}", codes))
    if not sets:
        rng = np.random.default_rng(args.seed)
        arrays = (
            *synthetic_codes(args.num_train, rng, args.entangle, args.num_codes),
            *synthetic_codes(args.num_test, rng, args.entangle, args.num_codes),
        )
        sets.append((f"synthetic dSprites-like codes, entangle={args.entangle}, "
                     f"seed={args.seed}", arrays))
        if args.num_train != 10000:  # MIG's target is at 10,000 codes
            bench_mig(*synthetic_codes(10000, rng, args.entangle, args.num_codes), args.mig_repeats)
    summary = []
    for i, (label, arrays) in enumerate(sets):
        print(f"== {label}")
        bench_mig(arrays[0], arrays[1], args.mig_repeats)
        if not args.skip_dci:
            summary.append((label, *bench_dci(arrays, args.fast_probe, args.skip_serial or i > 0)))
    if len(summary) > 1:
        print(f"== {args.fast_probe} vs gbt over {len(summary)} sets of codes")
        for label, speed, d_diff, c_diff in summary:
            print(f"  {speed:5.1f}x  D {d_diff:+.4f}  C {c_diff:+.4f}  {label}")
        worst = max(max(abs(d), abs(c)) for _, _, d, c in summary)
        slowest = min(speed for _, speed, _, _ in summary)
        ok = worst <= 0.05 and slowest >= 10
        print(f"  worst |diff| {worst:.4f}, smallest speed-up {slowest:.1f}x: "
              f"{'ok' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
