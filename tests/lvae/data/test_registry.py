"""The dataset registry: names, root resolution, and what a missing download says."""

from __future__ import annotations

from pathlib import Path

import pytest

from lvae.data import DatasetError, dataset_names, default_data_root, get_dataset

#: registry name -> a release file the missing-file error must name
RELEASE_FILES = {
    "dsprites": "dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
    "mpi3d_toy": "mpi3d/mpi3d_toy.npz",
    "mpi3d_realistic": "mpi3d/mpi3d_realistic.npz",
    "mpi3d_real": "mpi3d/mpi3d_real.npz",
    "mpi3d_complex": "mpi3d/real3d_complicated_shapes_ordered.npz",
    "shapes3d": "shapes3d/3dshapes.h5",
    "falcor3d": "falcor3d/train-rec.labels",
    "isaac3d": "isaac3d/labels.npy",
    "celeba": "celeba/list_attr_celeba.txt",
}
SOURCES = {
    "dsprites": "github.com/google-deepmind/dsprites-dataset",
    "mpi3d_toy": "github.com/rr-learning/disentanglement_dataset",
    "mpi3d_realistic": "github.com/rr-learning/disentanglement_dataset",
    "mpi3d_real": "github.com/rr-learning/disentanglement_dataset",
    "mpi3d_complex": "github.com/rr-learning/disentanglement_dataset",
    "shapes3d": "github.com/google-deepmind/3d-shapes",
    "falcor3d": "github.com/NVlabs/High-res-disentanglement-datasets",
    "isaac3d": "github.com/NVlabs/High-res-disentanglement-datasets",
    "celeba": "mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
}


def test_every_real_format_is_registered():
    assert set(RELEASE_FILES) <= set(dataset_names())


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as excinfo:
        get_dataset("dsprite", root="/nonexistent")
    msg = str(excinfo.value)
    assert "'dsprite'" in msg
    for name in dataset_names():
        assert name in msg


@pytest.mark.parametrize("name", sorted(RELEASE_FILES))
def test_missing_download_names_path_file_and_source(tmp_path, name):
    with pytest.raises(DatasetError) as excinfo:
        get_dataset(name, root=tmp_path)
    msg = str(excinfo.value)
    assert str(tmp_path / RELEASE_FILES[name]) in msg
    assert SOURCES[name] in msg
    assert "expected layout" in msg


def _missing_path(name: str, root: str | None = None) -> str:
    with pytest.raises(DatasetError) as excinfo:
        get_dataset(name, root=root)
    return str(excinfo.value)


def test_root_argument_beats_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LVAE_DATA", str(tmp_path / "env"))
    msg = _missing_path("shapes3d", root=tmp_path / "arg")
    assert str(tmp_path / "arg" / "shapes3d" / "3dshapes.h5") in msg


def test_env_lvae_data_beats_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("LVAE_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_root() == tmp_path / "env"
    assert str(tmp_path / "env" / "shapes3d" / "3dshapes.h5") in _missing_path("shapes3d")


def test_xdg_cache_home_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("LVAE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_root() == tmp_path / "xdg" / "lvae"
    assert str(tmp_path / "xdg" / "lvae" / "mpi3d" / "mpi3d_toy.npz") in _missing_path("mpi3d_toy")

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_root() == Path(tmp_path / "home" / ".cache" / "lvae")
    assert str(tmp_path / "home" / ".cache" / "lvae" / "celeba") in _missing_path("celeba")


def test_empty_env_values_fall_through(tmp_path, monkeypatch):
    monkeypatch.setenv("LVAE_DATA", "")
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_root() == tmp_path / ".cache" / "lvae"
