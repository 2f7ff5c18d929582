"""Loaders for the real dataset formats, on tiny fixtures in each exact format.

Every loader is checked for: exact pixels in the right order, the factor <-> index round
trip, a clear DatasetError (naming the file and what was expected) on bad input, and
that the registry path (release-sized expectations) rejects a tiny file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import data_fixtures as fx
from helpers.paths import REPO

from lvae.data import DatasetError, get_dataset, image_folder
from lvae.data import celeba as celeba_mod
from lvae.data import dsprites as dsprites_mod
from lvae.data import falcor3d as falcor3d_mod
from lvae.data import isaac3d as isaac3d_mod
from lvae.data import mpi3d as mpi3d_mod
from lvae.data import shapes3d as shapes3d_mod
from lvae.data.checksums import md5_file, verify_md5


def assert_round_trip(ds) -> None:
    """factors_of enumerates the grid in C order and index_of inverts it."""
    idx = np.arange(len(ds))
    factors = ds.factors_of(idx)
    np.testing.assert_array_equal(factors, fx.c_order_classes(ds.factor_sizes))
    np.testing.assert_array_equal(ds.index_of(factors), idx)


def assert_error(excinfo, *parts: object) -> None:
    msg = str(excinfo.value)
    for part in parts:
        assert str(part) in msg, f"{part!r} not in error message: {msg}"


# =============================================================================== dSprites
DSPRITES_TINY = (1, 2, 1, 3, 2, 2)  # 24 images, same six factors as the release


def tiny_dsprites(tmp_path: Path, compressed: bool = True, **changes) -> Path:
    arrays = fx.dsprites_arrays(DSPRITES_TINY)
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return fx.write_npz(tmp_path / "d.npz", arrays, compressed=compressed)


@pytest.mark.parametrize("compressed", [True, False])
def test_dsprites_packs_exact_pixels_in_order(tmp_path, compressed):
    path = tiny_dsprites(tmp_path, compressed=compressed)
    packed = dsprites_mod.load_packed_images(path, DSPRITES_TINY, chunk_rows=5)  # ragged tail
    assert packed.shape == (24, 512) and packed.dtype == np.uint8
    unpacked = np.unpackbits(packed, axis=1).reshape(24, 64, 64)
    np.testing.assert_array_equal(unpacked, fx.binary_images(np.arange(24)))


def test_dsprites_fixture_metadata_would_fail_if_unpickled(tmp_path):
    # The loader passes on this file only because it never unpickles 'metadata'.
    path = tiny_dsprites(tmp_path)
    with np.load(path, allow_pickle=True) as npz, pytest.raises(AssertionError, match="unpickled"):
        npz["metadata"]
    dsprites_mod.load_packed_images(path, DSPRITES_TINY)


def _swap_rows(a: np.ndarray, i: int, j: int) -> np.ndarray:
    a = a.copy()
    a[[i, j]] = a[[j, i]]
    return a


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"imgs": None}, ["'imgs'", "latents_classes"]),
        ({"latents_classes": None}, ["'latents_classes'"]),
        ({"imgs": fx.binary_images(np.arange(24)).astype(np.int64)}, ["'imgs'", "uint8", "int64"]),
        ({"imgs": fx.binary_images(np.arange(23))}, ["'imgs'", "(24, 64, 64)", "(23, 64, 64)"]),
        ({"latents_values": np.zeros((24, 5))}, ["'latents_values'", "(24, 6)"]),
        ({"latents_classes": fx.c_order_classes(DSPRITES_TINY).astype(np.int32)}, ["int64"]),
        (
            {"latents_classes": _swap_rows(fx.c_order_classes(DSPRITES_TINY), 3, 17)},
            ["'latents_classes'", "C order", "row 3"],
        ),
        (
            {"latents_classes": fx.c_order_classes(DSPRITES_TINY) * 2},
            ["'latents_classes'", "[0, 2)"],
        ),
        ({"imgs": fx.binary_images(np.arange(24)) * 3}, ["'imgs'", "0 and 1", "row 0"]),
    ],
    ids=[
        "no-imgs",
        "no-classes",
        "imgs-dtype",
        "imgs-rows",
        "values-cols",
        "classes-dtype",
        "classes-order",
        "classes-range",
        "imgs-not-binary",
    ],
)
def test_dsprites_bad_input_names_file_and_expectation(tmp_path, change, expected):
    path = tiny_dsprites(tmp_path, **change)
    with pytest.raises(DatasetError) as excinfo:
        dsprites_mod.load_packed_images(path, DSPRITES_TINY)
    assert_error(excinfo, path, *expected)


def test_dsprites_truncated_and_corrupt_files(tmp_path):
    path = tiny_dsprites(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError) as excinfo:
        dsprites_mod.load_packed_images(path, DSPRITES_TINY)
    assert_error(excinfo, path, "truncated")

    # Stored member with one flipped pixel byte: headers fine, zip CRC catches it.
    path = tiny_dsprites(tmp_path, compressed=False)
    data = bytearray(path.read_bytes())
    pos = data.index(b"imgs.npy") + 300  # inside the image data of the first member
    data[pos] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as excinfo:
        dsprites_mod.load_packed_images(path, DSPRITES_TINY)
    assert_error(excinfo, path, "'imgs'", "corrupt")

    not_zip = tmp_path / "junk.npz"
    not_zip.write_bytes(b"not a zip at all")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        dsprites_mod.load_packed_images(not_zip, DSPRITES_TINY)


def test_dsprites_registry_rejects_wrong_shape_naming_file_key_and_shape(tmp_path):
    path = tmp_path / "dsprites" / dsprites_mod.FILE_NAME
    fx.write_npz(path, fx.dsprites_arrays(DSPRITES_TINY), compressed=True)
    with pytest.raises(DatasetError) as excinfo:
        get_dataset("dsprites", root=tmp_path)
    assert_error(excinfo, path, "'imgs'", "(737280, 64, 64)", "(24, 64, 64)")


def test_dsprites_md5_is_opt_in_by_argument_or_env(tmp_path, monkeypatch):
    path = tmp_path / "dsprites" / dsprites_mod.FILE_NAME
    fx.write_npz(path, fx.dsprites_arrays(DSPRITES_TINY), compressed=True)
    monkeypatch.delenv("LVAE_VERIFY_MD5", raising=False)
    dsprites_mod.load_packed_images(path, DSPRITES_TINY)  # no check by default
    with pytest.raises(DatasetError) as excinfo:
        dsprites_mod.load_packed_images(path, DSPRITES_TINY, verify_md5_sum=True)
    assert_error(excinfo, path, "md5", dsprites_mod.MD5)
    monkeypatch.setenv("LVAE_VERIFY_MD5", "1")
    with pytest.raises(DatasetError, match="md5"):
        get_dataset("dsprites", root=tmp_path)
    dsprites_mod.load_packed_images(path, DSPRITES_TINY, verify_md5_sum=False)  # argument wins


def test_md5_helpers(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"lvae" * 1000)
    digest = hashlib.md5(b"lvae" * 1000).hexdigest()
    assert md5_file(path, chunk_bytes=7) == digest
    verify_md5(path, digest, source="here")
    with pytest.raises(DatasetError, match="download it again"):
        verify_md5(path, "0" * 32, source="here")


@pytest.fixture(scope="module")
def dsprites_release_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dsprites_release")
    fx.write_dsprites_release_size(root / "dsprites" / dsprites_mod.FILE_NAME)
    return root


@pytest.mark.slow
def test_dsprites_release_size_through_registry_under_1gib(dsprites_release_root):
    """The full 737,280-image grid via get_dataset, in a fresh process to measure peak RSS.

    Peak RSS is the process's own high-water mark (VmHWM): getrusage's ru_maxrss also
    carries the parent's peak across fork+exec, so under a long pytest run it reports
    pytest's memory rather than the loader's.
    """
    script = textwrap.dedent(
        f"""
        import re
        from pathlib import Path
        import numpy as np
        from lvae.data import get_dataset
        from helpers import data_fixtures as fx

        ds = get_dataset("dsprites", root={str(dsprites_release_root)!r})
        status = Path("/proc/self/status").read_text()
        rss = int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024
        rng = np.random.default_rng(0)
        factors = ds.sample_factors(512, rng)
        expected_index = (factors * np.array([737280, 245760, 40960, 1024, 32, 1])).sum(1)
        np.testing.assert_array_equal(ds.index_of(factors), expected_index)
        np.testing.assert_array_equal(ds.factors_of(expected_index), factors)
        obs = ds.sample_observations_from_factors(factors)
        np.testing.assert_array_equal(obs[:, 0], fx.binary_images(expected_index))
        last = ds.observations(np.array([737279]))[0, 0]
        np.testing.assert_array_equal(last, fx.binary_images(np.array([737279]))[0])
        print("RSS", rss, len(ds))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    rss, n = (int(v) for v in out.stdout.split()[-2:])
    assert n == 737_280
    assert rss < 1 << 30, f"peak RSS {rss / 2**20:.0f} MiB"


# ================================================================================= MPI3D
MPI3D_TINY = (2, 1, 1, 1, 1, 2, 3)  # 12 images


@pytest.mark.parametrize(("fmt", "suffix"), [("npz", ".npz"), ("npy", ".npy")])
def test_mpi3d_memory_maps_exact_pixels(tmp_path, fmt, suffix):
    path = fx.write_mpi3d(tmp_path / f"toy{suffix}", MPI3D_TINY, fmt=fmt)
    ds = mpi3d_mod.open_mpi3d_file(path, "mpi3d_toy", MPI3D_TINY)
    assert isinstance(ds.images, np.memmap)  # mapped in place, never copied
    assert ds.likelihood == "gaussian" and ds.observation_shape == (3, 64, 64)
    assert len(ds) == 12 and ds.factor_names == mpi3d_mod.FACTOR_NAMES
    idx = np.array([11, 0, 5, 5, 7])
    obs = ds.observations(idx)
    assert obs.dtype == np.float32
    np.testing.assert_array_equal(obs, fx.expected_rgb(idx))
    assert_round_trip(ds)
    np.testing.assert_array_equal(
        ds.sample_observations_from_factors(ds.factors_of(idx)), fx.expected_rgb(idx)
    )
    with pytest.raises(DatasetError, match=r"\[0, 12\)"):
        ds.observations(np.array([-1]))
    # Pickling ships the mapping, not the pixels (147 KB here, 12 GB for the release).
    blob = pickle.dumps(ds)
    assert len(blob) < 4096
    clone = pickle.loads(blob)
    assert isinstance(clone.images, np.memmap)
    np.testing.assert_array_equal(clone.observations(idx), fx.expected_rgb(idx))


def test_mpi3d_compressed_npz_is_refused_with_instructions(tmp_path):
    path = fx.write_mpi3d(tmp_path / "mpi3d" / "mpi3d_toy.npz", MPI3D_TINY, fmt="npz_compressed")
    with pytest.raises(DatasetError) as excinfo:
        mpi3d_mod.open_mpi3d_file(path, "mpi3d_toy", MPI3D_TINY)
    assert_error(excinfo, path, "compressed", "mpi3d_toy.npy")


@pytest.mark.parametrize(
    ("name", "file", "shape"),
    [
        ("mpi3d_toy", "mpi3d_toy.npz", "(1036800, 64, 64, 3)"),
        ("mpi3d_realistic", "mpi3d_realistic.npz", "(1036800, 64, 64, 3)"),
        ("mpi3d_real", "mpi3d_real.npz", "(1036800, 64, 64, 3)"),
        ("mpi3d_complex", "real3d_complicated_shapes_ordered.npz", "(460800, 64, 64, 3)"),
    ],
)
def test_mpi3d_registry_rejects_wrong_shape(tmp_path, name, file, shape):
    path = fx.write_mpi3d(tmp_path / "mpi3d" / file, MPI3D_TINY)
    with pytest.raises(DatasetError) as excinfo:
        get_dataset(name, root=tmp_path)
    assert_error(excinfo, path, "'images'", shape, "(12, 64, 64, 3)")


def test_mpi3d_registry_prefers_extracted_npy(tmp_path):
    fx.write_mpi3d(tmp_path / "mpi3d" / "mpi3d_toy.npz", MPI3D_TINY, fmt="npz_compressed")
    npy = fx.write_mpi3d(tmp_path / "mpi3d" / "mpi3d_toy.npy", MPI3D_TINY, fmt="npy")
    with pytest.raises(DatasetError) as excinfo:
        get_dataset("mpi3d_toy", root=tmp_path)
    assert_error(excinfo, npy, "(1036800, 64, 64, 3)")


def test_mpi3d_bad_files(tmp_path):
    wrong_key = fx.write_npz(
        tmp_path / "a.npz", {"imgs": np.zeros((12, 64, 64, 3), np.uint8)}, False
    )
    with pytest.raises(DatasetError) as excinfo:
        mpi3d_mod.open_mpi3d_file(wrong_key, "mpi3d_toy", MPI3D_TINY)
    assert_error(excinfo, wrong_key, "missing key 'images'", "['imgs']")

    wrong_dtype = fx.write_npz(tmp_path / "b.npz", {"images": np.zeros((12, 64, 64, 3))}, False)
    with pytest.raises(DatasetError) as excinfo:
        mpi3d_mod.open_mpi3d_file(wrong_dtype, "mpi3d_toy", MPI3D_TINY)
    assert_error(excinfo, wrong_dtype, "uint8", "float64")

    truncated = fx.write_mpi3d(tmp_path / "c.npz", MPI3D_TINY)
    truncated.write_bytes(truncated.read_bytes()[:-5000])
    with pytest.raises(DatasetError) as excinfo:
        mpi3d_mod.open_mpi3d_file(truncated, "mpi3d_toy", MPI3D_TINY)
    assert_error(excinfo, truncated, "truncated")

    truncated_npy = fx.write_mpi3d(tmp_path / "d.npy", MPI3D_TINY, fmt="npy")
    truncated_npy.write_bytes(truncated_npy.read_bytes()[:-5000])
    with pytest.raises(DatasetError) as excinfo:
        mpi3d_mod.open_mpi3d_file(truncated_npy, "mpi3d_toy", MPI3D_TINY)
    assert_error(excinfo, truncated_npy, "truncated")

    fortran = tmp_path / "e.npy"
    np.save(fortran, np.asfortranarray(np.zeros((12, 64, 64, 3), np.uint8)))
    with pytest.raises(DatasetError, match="C-order"):
        mpi3d_mod.open_mpi3d_file(fortran, "mpi3d_toy", MPI3D_TINY)


# ============================================================================= 3D Shapes
SHAPES_TINY = (2, 1, 2, 2, 1, 3)  # 24 images


def test_shapes3d_reads_unsorted_duplicate_indices_exactly(tmp_path):
    path = fx.write_shapes3d(tmp_path / "3dshapes.h5", SHAPES_TINY)
    ds = shapes3d_mod.Shapes3D(path, SHAPES_TINY)
    assert len(ds) == 24 and ds.likelihood == "gaussian"
    idx = np.array([23, 5, 1, 5, 0, 12])
    np.testing.assert_array_equal(ds.observations(idx), fx.expected_rgb(idx))
    assert ds.observations(np.array([], dtype=np.int64)).shape == (0, 3, 64, 64)
    assert_round_trip(ds)
    np.testing.assert_array_equal(ds.labels, fx.shapes3d_labels(SHAPES_TINY))
    clone = pickle.loads(pickle.dumps(ds))  # the open h5 handle is not pickled
    np.testing.assert_array_equal(clone.observations(idx), fx.expected_rgb(idx))
    ds.close()
    clone.close()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"labels": _swap_rows(fx.shapes3d_labels(SHAPES_TINY), 2, 9)}, ["C order", "row 2"]),
        ({"labels": fx.shapes3d_labels(SHAPES_TINY).astype(np.float32)}, ["'labels'", "float64"]),
        ({"labels": np.zeros((24, 6))}, ["'labels'", "column 0", "expected 2"]),
        ({"images": np.zeros((24, 64, 64, 1), np.uint8)}, ["'images'", "(24, 64, 64, 3)"]),
    ],
    ids=["label-order", "label-dtype", "label-values", "image-shape"],
)
def test_shapes3d_bad_input(tmp_path, kwargs, expected):
    path = fx.write_shapes3d(tmp_path / "3dshapes.h5", SHAPES_TINY, **kwargs)
    with pytest.raises(DatasetError) as excinfo:
        shapes3d_mod.Shapes3D(path, SHAPES_TINY)
    assert_error(excinfo, path, *expected)


def test_shapes3d_missing_dataset_and_truncated_file(tmp_path):
    path = tmp_path / "3dshapes.h5"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((24, 64, 64, 3), np.uint8)
    with pytest.raises(DatasetError) as excinfo:
        shapes3d_mod.Shapes3D(path, SHAPES_TINY)
    assert_error(excinfo, path, "missing dataset 'labels'")

    path = fx.write_shapes3d(tmp_path / "t.h5", SHAPES_TINY)
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(DatasetError) as excinfo:
        shapes3d_mod.Shapes3D(path, SHAPES_TINY)
    assert_error(excinfo, path, "truncated")


def test_shapes3d_registry_rejects_wrong_shape(tmp_path):
    path = fx.write_shapes3d(tmp_path / "shapes3d" / "3dshapes.h5", SHAPES_TINY)
    with pytest.raises(DatasetError) as excinfo:
        get_dataset("shapes3d", root=tmp_path)
    assert_error(excinfo, path, "'images'", "(480000, 64, 64, 3)")


# ============================================================ Falcor3D / Isaac3D folders
FOLDERS = {
    "falcor3d": (falcor3d_mod, (2, 1, 1, 1, 1, 2, 3)),  # 12 images
    "isaac3d": (isaac3d_mod, (2, 1, 1, 1, 1, 1, 1, 2, 2)),  # 8 images
}
OPENERS = {"falcor3d": falcor3d_mod.open_falcor3d, "isaac3d": isaac3d_mod.open_isaac3d}


def make_folder(root: Path, name: str, **kwargs) -> tuple[Path, tuple[int, ...]]:
    mod, sizes = FOLDERS[name]
    folder = root / mod.SPEC.subdir
    fx.write_numbered_folder(
        folder,
        sizes,
        labels_file=mod.SPEC.labels_file,
        label_columns=mod.SPEC.label_columns,
        side=kwargs.pop("side", 128 if name == "falcor3d" else 256),
        **kwargs,
    )
    return folder, sizes


def leftovers(folder: Path) -> list[str]:
    """Caches and temporary files in a dataset folder (the release's own files excluded)."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(("_64x64_uint8.npy", ".tmp")))


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_folder_dataset_caches_exact_pixels_in_order(tmp_path, name):
    folder, sizes = make_folder(tmp_path, name)
    ds = OPENERS[name](tmp_path, factor_sizes=sizes, workers=2)
    n = int(np.prod(sizes))
    assert len(ds) == n and ds.name == name and ds.likelihood == "gaussian"
    idx = np.arange(n)[::-1]
    np.testing.assert_array_equal(ds.observations(idx), fx.expected_rgb(idx))
    assert_round_trip(ds)
    assert ds.labels.shape == (n, FOLDERS[name][0].SPEC.label_columns)
    cache = folder / FOLDERS[name][0].SPEC.cache_name
    assert leftovers(folder) == [cache.name]

    # Later opens use the cache alone: the images are no longer needed.
    for png in (folder / "images").iterdir():
        png.unlink()
    again = OPENERS[name](tmp_path, factor_sizes=sizes)
    assert isinstance(again.images, np.memmap)
    np.testing.assert_array_equal(again.observations(idx), fx.expected_rgb(idx))
    clone = pickle.loads(pickle.dumps(again))
    np.testing.assert_array_equal(clone.observations(idx), fx.expected_rgb(idx))
    np.testing.assert_array_equal(clone.labels, ds.labels)


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_folder_registry_rejects_tiny_release(tmp_path, name):
    mod = FOLDERS[name][0]
    folder, _ = make_folder(tmp_path, name)
    with pytest.raises(DatasetError) as excinfo:
        get_dataset(name, root=tmp_path)
    assert_error(excinfo, folder / mod.SPEC.labels_file, int(np.prod(mod.SPEC.factor_sizes)))


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_folder_count_mismatches(tmp_path, name):
    mod, sizes = FOLDERS[name]
    n = int(np.prod(sizes))
    folder, _ = make_folder(tmp_path / "a", name, n_images=n + 1)
    with pytest.raises(DatasetError) as excinfo:
        OPENERS[name](tmp_path / "a", factor_sizes=sizes)
    assert_error(excinfo, folder / "images", f"{n + 1} .png", f"expected {n}")

    folder, _ = make_folder(tmp_path / "b", name, n_labels=n - 1)
    with pytest.raises(DatasetError) as excinfo:
        OPENERS[name](tmp_path / "b", factor_sizes=sizes)
    assert_error(excinfo, folder / mod.SPEC.labels_file, f"{n - 1} rows", f"expected {n}")
    assert leftovers(folder) == []


def test_folder_bad_labels_and_images(tmp_path):
    sizes = FOLDERS["falcor3d"][1]
    folder, _ = make_folder(tmp_path, "falcor3d")
    labels = folder / "train-rec.labels"
    with open(labels, "wb") as fh:
        np.save(fh, np.array([{"pickled": 1}], dtype=object))
    with pytest.raises(DatasetError) as excinfo:
        falcor3d_mod.open_falcor3d(tmp_path, factor_sizes=sizes)
    assert_error(excinfo, labels, "(N, 7)")
    with open(labels, "wb") as fh:
        np.save(fh, np.zeros((12, 6)))
    with pytest.raises(DatasetError) as excinfo:
        falcor3d_mod.open_falcor3d(tmp_path, factor_sizes=sizes)
    assert_error(excinfo, labels, "(N, 7)", "(12, 6)")

    folder, _ = make_folder(tmp_path / "odd", "isaac3d")
    from PIL import Image

    Image.new("RGB", (128, 96)).save(folder / "images" / "000003.png")
    with pytest.raises(DatasetError) as excinfo:
        isaac3d_mod.open_isaac3d(tmp_path / "odd", factor_sizes=FOLDERS["isaac3d"][1])
    assert_error(excinfo, folder / "images" / "000003.png", "square", "128x96")
    assert leftovers(folder) == []


def test_folder_cache_build_is_atomic(tmp_path, monkeypatch):
    sizes = FOLDERS["falcor3d"][1]
    folder, _ = make_folder(tmp_path, "falcor3d")
    bad = folder / "images" / "000007.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DatasetError) as excinfo:
        falcor3d_mod.open_falcor3d(tmp_path, factor_sizes=sizes, workers=2)
    assert_error(excinfo, bad)
    assert leftovers(folder) == []

    # An interrupt (not an Exception) mid-build leaves nothing behind either.
    fx.write_numbered_folder(folder, sizes, labels_file="train-rec.labels", label_columns=7)
    real = image_folder.read_image

    def interrupted(path, transform):
        if path.name == "000004.png":
            raise KeyboardInterrupt
        return real(path, transform)

    monkeypatch.setattr(image_folder, "read_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        falcor3d_mod.open_falcor3d(tmp_path, factor_sizes=sizes, workers=1)
    assert leftovers(folder) == []
    monkeypatch.setattr(image_folder, "read_image", real)
    ds = falcor3d_mod.open_falcor3d(tmp_path, factor_sizes=sizes)
    np.testing.assert_array_equal(ds.observations(np.arange(12)), fx.expected_rgb(range(12)))


def test_folder_stale_or_truncated_cache_is_reported(tmp_path):
    sizes = FOLDERS["isaac3d"][1]
    folder, _ = make_folder(tmp_path, "isaac3d")
    cache = folder / isaac3d_mod.SPEC.cache_name
    np.save(cache, np.zeros((3, 64, 64, 3), np.uint8))
    with pytest.raises(DatasetError) as excinfo:
        isaac3d_mod.open_isaac3d(tmp_path, factor_sizes=sizes)
    assert_error(excinfo, cache, "(8, 64, 64, 3)", "delete it")
    np.save(cache, np.zeros((8, 64, 64, 3), np.uint8))
    cache.write_bytes(cache.read_bytes()[:-100])
    with pytest.raises(DatasetError) as excinfo:
        isaac3d_mod.open_isaac3d(tmp_path, factor_sizes=sizes)
    assert_error(excinfo, cache, "delete it")


# ================================================================================ CelebA
def test_celeba_centre_crops_and_serves_observations_only(tmp_path):
    folder = fx.write_celeba(tmp_path / "celeba", 5)
    ds = celeba_mod.open_celeba_folder(folder, expected_count=5, workers=2)
    assert len(ds) == 5 and ds.factor_sizes == () and ds.likelihood == "gaussian"
    obs = ds.observations(np.arange(5)[::-1])
    for row, i in enumerate(range(4, -1, -1)):
        # JPEG (quality 100) is within 2 levels; any outer (dark) pixel in the crop fails.
        colour = fx.celeba_colour(i).astype(np.float32)[:, None, None] / 255
        np.testing.assert_allclose(obs[row], np.broadcast_to(colour, (3, 64, 64)), atol=3 / 255)
    assert ds.attributes.shape == (5, 40) and set(np.unique(ds.attributes)) == {-1, 1}
    assert ds.attribute_names[0] == "Attr_0" and ds.image_names[-1] == "000005.jpg"

    batch = ds.random_batch(7, np.random.default_rng(3))
    np.testing.assert_array_equal(batch, ds.random_batch(7, np.random.default_rng(3)))
    assert batch.shape == (7, 3, 64, 64)
    for call in (
        lambda: ds.index_of([[0]]),
        lambda: ds.factors_of(0),
        lambda: ds.sample_factors(2, np.random.default_rng(0)),
    ):
        with pytest.raises(DatasetError, match="no ground-truth factors"):
            call()


def test_celeba_bad_attribute_files(tmp_path):
    folder = fx.write_celeba(tmp_path / "celeba", 4)
    attr = folder / "list_attr_celeba.txt"
    with pytest.raises(DatasetError) as excinfo:
        get_dataset("celeba", root=tmp_path)
    assert_error(excinfo, attr, "4 images", "expected 202599")

    lines = attr.read_text().splitlines()
    attr.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError) as excinfo:
        celeba_mod.open_celeba_folder(folder, expected_count=4)
    assert_error(excinfo, attr, "3 attribute rows", "says 4")

    attr.write_text("\n".join([*lines[:-1], lines[-1].rsplit(" ", 1)[0] + "  0"]) + "\n")
    with pytest.raises(DatasetError) as excinfo:
        celeba_mod.open_celeba_folder(folder, expected_count=4)
    assert_error(excinfo, attr, "000004.jpg", "-1 or 1")

    attr.write_text("\n".join([lines[0], "Only Three Names", *lines[2:]]) + "\n")
    with pytest.raises(DatasetError) as excinfo:
        celeba_mod.open_celeba_folder(folder, expected_count=4)
    assert_error(excinfo, attr, "40 attributes")

    attr.write_text("\n".join(lines) + "\n")
    (folder / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(DatasetError) as excinfo:
        celeba_mod.open_celeba_folder(folder, expected_count=4)
    assert_error(excinfo, folder / "img_align_celeba", "3 .jpg", "expected 4")
    assert leftovers(folder) == []
