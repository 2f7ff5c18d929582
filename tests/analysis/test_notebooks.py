"""Both notebooks: committed without outputs, in step with their generator, and run top to
bottom by a real Jupyter kernel (this venv's python) on a synthetic experiment."""

from __future__ import annotations

import json
import os
import sys

import nbformat
import pytest
from helpers.analysis_fixtures import standard_trials, write_experiment
from helpers.paths import REPO
from nbclient import NotebookClient

from analysis.report.make_notebooks import NOTEBOOK_DIR, NOTEBOOKS, render

KERNEL = "lvae-analysis-test"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernelspec for this interpreter found first on JUPYTER_PATH, whatever else is installed."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lvae analysis test", "language": "python"}))
    exps = [write_experiment(root, name, ts) for name,
            ts in standard_trials(seeds=(0, 1), curves=True).items()]
    old = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "LVAE_EXPERIMENT")}
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root), old["JUPYTER_PATH"]]))
    os.environ["LVAE_EXPERIMENT"] = os.pathsep.join(map(str, exps))
    yield exps
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_committed_without_outputs_and_up_to_date(name):
    path = NOTEBOOK_DIR / name
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "os.environ.get(\"LVAE_EXPERIMENT\"" in code[0].source
    assert path.read_text() == render(name), ("regenerate with: python -m "
                                              "analysis.report.make_notebooks")


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(name, kernel_env):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=300,
                            resources={"metadata": {"path": str(REPO)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2
    # the first cell saw the synthetic experiments, not the default folder
    first = next(c for c in nb.cells if c.cell_type == "code")
    text = first.outputs[0]["data"]["text/plain"]
    assert all(p.name in text for p in kernel_env)
