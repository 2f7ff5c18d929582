"""Shared by tests/e2e/test_bad_inputs_*.py (issue #12): the refusal check of every CLI
case (exit code 2, one ``error: ...`` line naming the input, no traceback, nothing written
or removed) and the count of cases across the corpus."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path


def tree(root: Path) -> list[str]:
    """Every path under root: what a refused command must leave unchanged."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def assert_refused(capsys, rc: int, root: Path, before: list[str], *names: object) -> str:
    """Exit code 2, one 'error:' line naming every ``names``, no traceback, nothing written."""
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in out + err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    assert tree(root) == before, "files were written or removed"
    return lines[0]


def refused(capsys, main, argv: list[str], root: Path, *names: object) -> str:
    before = tree(root)
    return assert_refused(capsys, main(argv), root, before, *names)


def _is_parametrize(decorator: ast.expr) -> bool:
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr == "parametrize"
    )


def count_cases(paths: Iterable[Path], skip: str = "test_corpus_size") -> int:
    """The cases in these test modules: one per test function, or the number of parameter
    sets of its ``parametrize`` mark (the innermost one, as ``pytestmark[0]`` is), read from
    the source so that no test module imports another."""
    count = 0
    for path in paths:
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            if node.name == skip:
                continue
            marks = [d for d in node.decorator_list if _is_parametrize(d)]
            if not marks:
                count += 1
                continue
            values = marks[-1].args[1]
            assert isinstance(values, ast.List | ast.Tuple), f"{path}:{node.lineno}: not a list"
            count += len(values.elts)
    return count
