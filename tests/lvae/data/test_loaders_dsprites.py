"""The dSprites loader (and its md5 check), on tiny fixtures in the exact format.

Every loader is checked for: exact pixels in the right order, the factor <-> index round
trip, a clear DatasetError (naming the file and what was expected) on bad input, and
that the registry path (release-sized expectations) rejects a tiny file. The checks
shared by the loaders' test modules are in tests/helpers/loader_checks.py.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import data_fixtures as fx
from helpers.loader_checks import assert_error, swap_rows
from helpers.paths import REPO

from lvae.data import DatasetError, get_dataset
from lvae.data import dsprites as dsprites_mod
from lvae.data.checksums import md5_file, verify_md5

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
            {"latents_classes": swap_rows(fx.c_order_classes(DSPRITES_TINY), 3, 17)},
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
