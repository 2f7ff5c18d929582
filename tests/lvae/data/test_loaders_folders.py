"""The image-folder loaders (Falcor3D, Isaac3D and CelebA), on tiny fixtures in each
exact format.

Every loader is checked for: exact pixels in the right order, the factor <-> index round
trip, a clear DatasetError (naming the file and what was expected) on bad input, and
that the registry path (release-sized expectations) rejects a tiny file. The checks
shared by the loaders' test modules are in tests/helpers/loader_checks.py.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from helpers import data_fixtures as fx
from helpers.loader_checks import assert_error, assert_round_trip

from lvae.data import DatasetError, get_dataset, image_folder
from lvae.data import celeba as celeba_mod
from lvae.data import falcor3d as falcor3d_mod
from lvae.data import isaac3d as isaac3d_mod

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
