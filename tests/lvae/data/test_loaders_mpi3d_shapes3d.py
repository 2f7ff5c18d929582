"""The MPI3D (.npz / .npy) and 3D Shapes (.h5) loaders, on tiny fixtures in each exact
format.

Every loader is checked for: exact pixels in the right order, the factor <-> index round
trip, a clear DatasetError (naming the file and what was expected) on bad input, and
that the registry path (release-sized expectations) rejects a tiny file. The checks
shared by the loaders' test modules are in tests/helpers/loader_checks.py.
"""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
from helpers import data_fixtures as fx
from helpers.loader_checks import assert_error, assert_round_trip, swap_rows

from lvae.data import DatasetError, get_dataset
from lvae.data import mpi3d as mpi3d_mod
from lvae.data import shapes3d as shapes3d_mod

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
        ({"labels": swap_rows(fx.shapes3d_labels(SHAPES_TINY), 2, 9)}, ["C order", "row 2"]),
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
