"""lvae.atomic: files are written whole or not at all; JSON read back names the file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lvae.atomic import (
    InputError,
    atomic_path,
    parse_json,
    read_json,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)

EXPECTED = "the run's TrainConfig fields"


def _only(folder: Path) -> list[str]:
    """Every name in ``folder``, hidden temporaries included."""
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------ reading
def test_read_json_returns_the_object(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"steps": 3}')
    assert read_json(tmp_path / "config.json", EXPECTED) == {"steps": 3}


def test_bad_json_names_the_file_and_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"steps": 3,')  # truncated
    with pytest.raises(InputError) as info:
        read_json(path, EXPECTED)
    message = str(info.value)
    assert message.startswith(f"{path} is not valid JSON (")
    assert message.endswith(f"expected {EXPECTED}")


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (None, "is missing; expected a file holding"),
        (b"\xff\xfe\x00binary", "is not text (binary or not UTF-8); expected JSON holding"),
        (b"[1, 2]", "holds a JSON list; expected an object holding"),
        (b'"text"', "holds a JSON str; expected an object holding"),
    ],
)
def test_read_json_refusals_name_the_file(tmp_path: Path, content, found) -> None:
    path = tmp_path / "result.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match="^" + re.escape(f"{path} {found} {EXPECTED}") + "$"):
        read_json(path, EXPECTED)


def test_read_json_refuses_a_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").mkdir()
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'config.json'} is a folder")):
        read_json(tmp_path / "config.json", EXPECTED)


def test_parse_json_names_its_source() -> None:
    with pytest.raises(InputError, match="^s3://bucket/sweep.json is not valid JSON"):
        parse_json(b"{", "s3://bucket/sweep.json", "the sweep's settings")
    assert parse_json(b'{"a": [1]}', "x", "y") == {"a": [1]}


def test_input_error_is_a_value_error_and_lvae_cli_reexports_it() -> None:
    import lvae.cli
    import lvae.config

    assert issubclass(InputError, ValueError)
    assert lvae.cli.InputError is InputError
    # JSON is read and written through lvae.atomic only: no second way in
    assert not hasattr(lvae.cli, "read_json") and not hasattr(lvae.cli, "parse_json")
    assert not hasattr(lvae.config, "write_json_atomic")


# ------------------------------------------------------------------ writing
def test_write_json_atomic_round_trips_numpy_scalars_and_paths(tmp_path: Path) -> None:
    path = write_json_atomic(tmp_path / "m.json", {"b": np.float32(0.5), "a": Path("x/y")})
    assert path == tmp_path / "m.json"
    assert path.read_text() == '{\n  "a": "x/y",\n  "b": 0.5\n}\n'
    assert _only(tmp_path) == ["m.json"]


def test_failed_serialisation_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write_json_atomic(path, {"step": 1})
    before = path.read_bytes()

    class Unserialisable:
        pass

    with pytest.raises(TypeError, match="not JSON serialisable: Unserialisable"):
        write_json_atomic(path, {"step": 2, "bad": Unserialisable()})
    assert path.read_bytes() == before
    assert _only(tmp_path) == ["result.json"]


def test_failed_first_write_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "new.json", {"bad": object()})
    assert _only(tmp_path) == []


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    """A writer that dies half-way (here: raises after writing half the bytes)."""
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"old complete file")
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as tmp:
        tmp.write_bytes(b"new half")
        assert tmp.parent == tmp_path and tmp.name.startswith(".checkpoint.pt.")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"old complete file"
    assert _only(tmp_path) == ["checkpoint.pt"]


def test_atomic_path_with_fsync_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "grid.npy"
    path.write_bytes(b"old")
    with atomic_path(path, fsync=True) as tmp:
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new"
    assert _only(tmp_path) == ["grid.npy"]


def test_parents_makes_the_folder_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "report" / "sub" / "index.md"
    with pytest.raises(FileNotFoundError):
        write_text_atomic(target, "# report\n")
    assert not (tmp_path / "report").exists()
    write_text_atomic(target, "# report\n", parents=True)
    assert target.read_text() == "# report\n"


def test_write_csv_atomic(tmp_path: Path) -> None:
    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    path = write_csv_atomic(tmp_path / "t.csv", table)
    assert path.read_text() == "a,b\n1,x\n2,y\n"
    pd.testing.assert_frame_equal(pd.read_csv(path), table)


def test_analysis_writes_make_their_folder(tmp_path: Path) -> None:
    from analysis.io.files import write_csv_atomic as analysis_csv
    from analysis.io.files import write_text_atomic as analysis_text

    analysis_text(tmp_path / "a" / "r.md", "x")
    analysis_csv(tmp_path / "b" / "t.csv", pd.DataFrame({"a": [1]}), index=True)
    assert (tmp_path / "a" / "r.md").read_text() == "x"
    assert (tmp_path / "b" / "t.csv").read_text() == ",a\n0,1\n"


def test_json_written_is_what_json_reads(tmp_path: Path) -> None:
    data = {"metrics": {"mig": 0.25}, "seed": 0, "options": {}}
    write_json_atomic(tmp_path / "metrics.json", data)
    assert read_json(tmp_path / "metrics.json", "metrics") == data == json.loads(
        (tmp_path / "metrics.json").read_text()
    )
