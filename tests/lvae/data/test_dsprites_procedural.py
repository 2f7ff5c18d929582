"""Procedural dSprites: fidelity to the real frames, renderer consistency, cache behaviour.

Nothing here renders the full 737,280-image grid (benchmarks/bench_data.py does): the
cache is exercised on a few blocks, and the one full-size file is written by a cheap
block renderer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers.paths import REPO as REPO_ROOT

from lvae.data import dsprites_render as R
from lvae.data.dsprites_common import FACTOR_SIZES, NUM_IMAGES, PACKED_ROW_BYTES
from lvae.data.dsprites_procedural import (
    NAME,
    ProceduralDSprites,
    ProceduralGridCache,
    open_dsprites_procedural,
)
from lvae.data.errors import DatasetError
from lvae.data.registry import DATASETS


def frames_dir() -> Path:
    env = os.environ.get("LVAE_DSPRITES_FRAMES")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "dsprites_frames"


@pytest.fixture(scope="module")
def real_frames() -> tuple[np.ndarray, np.ndarray]:
    path = frames_dir() / "frames.npz"
    if not frames_dir().is_dir():
        pytest.skip(
            f"real dSprites frames not found at {frames_dir()} "
            "(set LVAE_DSPRITES_FRAMES or place shared/ beside the repo)"
        )
    with np.load(path) as data:
        return data["imgs"], data["latents_classes"]


def packed_block_rows(factors: np.ndarray) -> np.ndarray:
    return np.packbits(R.render_factors(factors).reshape(len(factors), -1), axis=1)


def block_as_factors(block: int) -> np.ndarray:
    color, shape, scale, orient = R.block_factors(block)
    pos = np.stack(np.meshgrid(np.arange(32), np.arange(32), indexing="ij"), -1).reshape(-1, 2)
    head = np.tile([color, shape, scale, orient], (len(pos), 1))
    return np.concatenate([head, pos], axis=1)


# --------------------------------------------------------------------- fidelity
def test_matches_real_frames(real_frames: tuple[np.ndarray, np.ndarray]) -> None:
    imgs, classes = real_frames
    assert imgs.shape == (320, 64, 64) and classes.shape == (320, 6)
    rendered = R.render_factors(classes).astype(bool)
    real = imgs.astype(bool)
    wrong = (rendered != real).reshape(len(real), -1).sum(axis=1)
    exact = int((wrong == 0).sum())
    assert exact >= 250, f"only {exact}/320 frames pixel-exact ({int(wrong.sum())} wrong pixels)"
    for shape, name in enumerate(("square", "ellipse", "heart")):
        rows = classes[:, 1] == shape
        assert rows.any(), f"no {name} frames"
        inter = (rendered[rows] & real[rows]).reshape(rows.sum(), -1).sum(axis=1)
        union = (rendered[rows] | real[rows]).reshape(rows.sum(), -1).sum(axis=1)
        iou = float(np.mean(inter / union))
        assert iou >= 0.995, f"{name}: mean IoU {iou:.4f} < 0.995"


def test_geometry_conventions() -> None:
    """posX moves right, posY moves down, lobes point up, rotation is counter-clockwise."""
    def centroid(f: list[int]) -> np.ndarray:
        img = R.render_factors(np.array([f]))[0]
        rows, cols = np.nonzero(img)
        return np.array([cols.mean(), rows.mean()])

    # Square at scale 1 is 19.2 px: a 19 or 20 px wide run of pixels.
    square = R.render_factors(np.array([[0, 0, 5, 0, 0, 0]]))[0]
    assert square.sum(axis=1).max() in (19, 20)
    assert centroid([0, 0, 5, 0, 31, 0])[0] > 40 > centroid([0, 0, 5, 0, 0, 0])[0]
    assert centroid([0, 0, 5, 0, 0, 31])[1] > 40 > centroid([0, 0, 5, 0, 0, 0])[1]
    # Ellipse: long axis horizontal at orientation 0, tilted up-right after a CCW turn.
    ell = R.render_factors(np.array([[0, 1, 5, 0, 16, 16], [0, 1, 5, 5, 16, 16]]))
    assert ell[0].sum(axis=0).astype(bool).sum() > ell[0].sum(axis=1).astype(bool).sum()
    rows, cols = np.nonzero(ell[1])
    assert np.corrcoef(cols, -rows)[0, 1] > 0.5  # right side higher on screen
    # Heart: the widest rows (the lobes) sit above the centre, the tip below.
    heart = R.render_factors(np.array([[0, 2, 5, 0, 16, 16]]))[0]
    rows, _ = np.nonzero(heart)
    assert np.argmax(heart.sum(axis=1)) < rows.mean() < (rows.min() + rows.max()) / 2 + 1


# ------------------------------------------------------------ renderer internals
@pytest.mark.parametrize(
    "factors",
    [
        (0, 0, 5, 5),  # square at 46 degrees: corners reach furthest from the centre
        (0, 0, 0, 14),
        (0, 1, 5, 0),
        (0, 1, 2, 23),
        (0, 2, 5, 0),
        (0, 2, 5, 30),
        (0, 2, 0, 17),
        (0, 2, 3, 39),
    ],
)
def test_block_renderer_equals_per_image_renderer(factors: tuple[int, int, int, int]) -> None:
    block = int(np.ravel_multi_index(factors, FACTOR_SIZES[:4]))
    assert R.block_factors(block) == factors
    got = R.render_block(block)
    assert got.shape == (1024, PACKED_ROW_BYTES) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, packed_block_rows(block_as_factors(block)))


def test_heart_shortcut_equals_eight_direction_erosion() -> None:
    """The deep-inside shortcut must not change which points the erosion keeps."""
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 20000)
    scale = rng.choice(R.FACTOR_VALUES[2], size=t.size)
    # Points on the outline (in px), then jittered by up to 3 erosion radii.
    u = 16 * np.sin(t) ** 3 * R.HEART_SCALE_X * scale
    curve = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    v = (curve * R.HEART_SCALE_Y + R.HEART_SHIFT_UP) * scale
    jitter = rng.uniform(-3, 3, size=(2, t.size)) * R.HEART_EROSION * scale
    u, v = u + jitter[0], v + jitter[1]
    brute = R._heart_curve(u, v, scale)
    radius = R.HEART_EROSION * scale
    for dc, ds in R._EROSION_DIRECTIONS:
        brute &= R._heart_curve(u + radius * dc, v + radius * ds, scale)
    got = R._heart(u, v, scale)
    np.testing.assert_array_equal(got, brute)
    assert 0.1 < got.mean() < 0.9  # the sample straddles the outline


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_first_and_last_orientation_are_the_same_image(shape: int) -> None:
    """As in the release, orientation 39 (2 pi) repeats orientation 0 pixel for pixel."""
    first = int(np.ravel_multi_index((0, shape, 4, 0), FACTOR_SIZES[:4]))
    np.testing.assert_array_equal(R.render_block(first), R.render_block(first + 39))


def test_render_factors_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="integer array"):
        R.render_factors(np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(ValueError, match=r"column 3 must be in \[0, 40\)"):
        R.render_factors(np.array([[0, 0, 0, 40, 0, 0]]))
    with pytest.raises(ValueError, match="block"):
        R.block_factors(720)


# ------------------------------------------------------------------- the cache
def test_cache_builds_then_reuses_without_rendering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ProceduralGridCache(tmp_path / NAME, num_blocks=2, workers=2)
    assert f"_v{R.RENDERER_VERSION}" in cache.path.name
    packed = cache.load()
    assert packed.shape == (2048, PACKED_ROW_BYTES) and packed.dtype == np.uint8
    np.testing.assert_array_equal(packed[1024:], R.render_block(1))
    mtime = cache.path.stat().st_mtime_ns

    def forbidden(block: int) -> np.ndarray:
        raise AssertionError(f"cache was re-rendered (block {block})")

    monkeypatch.setattr("lvae.data.dsprites_procedural.render_block", forbidden)
    again = ProceduralGridCache(tmp_path / NAME, num_blocks=2).load()
    np.testing.assert_array_equal(again, packed)
    assert cache.path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in cache.directory.iterdir() if p.name != ".lock") == [
        cache.path.name
    ]


def _corrupt_truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 100)


def _corrupt_header(path: Path) -> None:
    path.write_bytes(b"not an npy file at all")


def _corrupt_shape(path: Path) -> None:
    np.save(path, np.zeros((10, PACKED_ROW_BYTES), dtype=np.uint8))


def _corrupt_content(path: Path) -> None:
    data = np.load(path, mmap_mode="r+")
    data[:] = 0
    data.flush()


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_corrupt_truncate, "truncated"),
        (_corrupt_header, "not a readable .npy"),
        (_corrupt_shape, "field 'shape' must be"),
        (_corrupt_content, "differ from the renderer"),
    ],
)
def test_corrupt_cache_is_detected_and_regenerated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, corrupt, message: str
) -> None:
    cache = ProceduralGridCache(tmp_path, num_blocks=1)
    good = np.array(cache.load())
    corrupt(cache.path)
    with pytest.raises(DatasetError, match=message) as err:
        cache.validate()
    assert str(cache.path) in str(err.value)
    with caplog.at_level(logging.WARNING, logger="lvae.data.dsprites_procedural"):
        fixed = cache.load()
    assert any(
        message in r.getMessage() and "regenerating" in r.getMessage() for r in caplog.records
    )
    np.testing.assert_array_equal(fixed, good)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_build_leaves_no_cache(tmp_path: Path, error: type[BaseException]) -> None:
    def render(block: int) -> np.ndarray:
        if block == 2:
            raise error("interrupted mid-write")
        return np.full((1024, PACKED_ROW_BYTES), block, dtype=np.uint8)

    for workers in (1, 2):
        cache = ProceduralGridCache(tmp_path, num_blocks=4, render=render, workers=workers)
        with pytest.raises(error, match="mid-write"):
            cache.load()
        assert not cache.path.exists()
        assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_leftover_temp_file_of_killed_build_is_removed(tmp_path: Path) -> None:
    cache = ProceduralGridCache(tmp_path, num_blocks=1)
    leftover = tmp_path / f".{cache.path.name}.12345.deadbeef.tmp"
    leftover.write_bytes(b"partial")
    cache.load()
    assert not leftover.exists() and cache.path.exists()


def test_renderer_must_return_a_packed_block(tmp_path: Path) -> None:
    cache = ProceduralGridCache(
        tmp_path, num_blocks=1, render=lambda b: np.zeros((1024, 64, 64), np.uint8)
    )
    with pytest.raises(ValueError, match=r"expected uint8 \(1024, 512\)"):
        cache.load()
    assert not cache.path.exists()


# ------------------------------------------------------------------ the dataset
REAL_BLOCKS = (0, 247, 719)  # square/scale0/orient0, ellipse/scale0/orient7, heart/scale5/orient39


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProceduralDSprites]:
    """The registered factory on a full-size file: real pixels in REAL_BLOCKS, zeros elsewhere."""
    empty = np.zeros((1024, PACKED_ROW_BYTES), dtype=np.uint8)

    def render(block: int) -> np.ndarray:
        return R.render_block(block) if block in REAL_BLOCKS else empty

    root = tmp_path_factory.mktemp("data")
    data = open_dsprites_procedural(root, render=render)
    yield data
    (root / NAME / f"{NAME}_v{R.RENDERER_VERSION}.npy").unlink()


def test_factory_is_registered() -> None:
    assert DATASETS[NAME] is open_dsprites_procedural


def test_factor_index_round_trip(dataset: ProceduralDSprites) -> None:
    assert len(dataset) == NUM_IMAGES and dataset.name == NAME
    np.testing.assert_array_equal(dataset.strides, [737280, 245760, 40960, 1024, 32, 1])
    rng = np.random.default_rng(1)
    idx = rng.integers(0, NUM_IMAGES, 1000)
    np.testing.assert_array_equal(dataset.index_of(dataset.factors_of(idx)), idx)
    assert int(dataset.index_of([0, 2, 5, 39, 31, 31])[0]) == NUM_IMAGES - 1
    np.testing.assert_allclose(
        dataset.latent_values(np.array([[0, 2, 5, 39, 31, 0]]))[0], [1, 3, 1, 2 * np.pi, 1, 0]
    )
    with pytest.raises(DatasetError, match="pos_x"):
        dataset.index_of([0, 0, 0, 0, 32, 0])


def test_observations_equal_renderer_for_their_factors(dataset: ProceduralDSprites) -> None:
    rng = np.random.default_rng(2)
    factors = np.concatenate(
        [block_as_factors(b)[rng.choice(1024, 20, replace=False)] for b in REAL_BLOCKS]
    )
    obs = dataset.sample_observations_from_factors(factors, rng)
    assert obs.shape == (60, 1, 64, 64) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs[:, 0], R.render_factors(factors).astype(np.float32))


def test_random_batch(dataset: ProceduralDSprites, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = dataset.random_batch(64, np.random.default_rng(3))
    assert batch.shape == (64, 1, 64, 64) and batch.dtype == np.float32
    assert set(np.unique(batch)) <= {0.0, 1.0}
    np.testing.assert_array_equal(batch, dataset.random_batch(64, np.random.default_rng(3)))
    drawn: list[np.ndarray] = []
    observations = dataset.observations
    monkeypatch.setattr(dataset, "observations", lambda idx: drawn.append(idx) or observations(idx))
    for seed in (3, 3, 4):
        dataset.random_batch(64, np.random.default_rng(seed))
    np.testing.assert_array_equal(drawn[0], drawn[1])
    assert not np.array_equal(drawn[0], drawn[2])
    assert all(0 <= d.min() and d.max() < NUM_IMAGES for d in drawn)
    # Every rendered frame holds a sprite; the rows of a real block are never blank.
    real = dataset.observations(np.arange(719 * 1024, NUM_IMAGES))
    assert real.reshape(1024, -1).sum(axis=1).min() > 0
