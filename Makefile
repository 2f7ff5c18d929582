# Two entry points: `make sweep` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export RAY_USAGE_STATS_ENABLED ?= 0

.PHONY: venv test sweep study lint bench clean cluster-demo

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# CPU build from the local wheel cache; users with GPUs install their own CUDA torch first.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: venv
	$(VENV)/bin/ruff check lvae sweeps analysis tests benchmarks
	$(PY) -m pytest -q

sweep: venv
	$(PY) sweeps/run.py --space lvae_reg --preset local

# Evidence at laptop scale (<= 100 min on 2 cores): the lvae_reg question at 6 seeds per cell.
study: venv
	$(PY) sweeps/run.py --space lvae_reg --preset study

bench: venv
	$(PY) benchmarks/bench_data.py
	$(PY) benchmarks/bench_trainer.py
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_sweep.py
	$(PY) benchmarks/bench_gpu.py

# cluster.yaml's autoscaling on this machine (Ray's fake multi-node provider): a smoke
# sweep of 12 trials at --gpus-per-trial 0.25 --device cpu; a progress table, then the
# trials per node and per logical GPU.
cluster-demo: venv
	cd tests && RAY_AUTH_MODE=disabled $(abspath $(PY)) -m helpers.fake_cluster

lint: venv
	$(VENV)/bin/ruff check lvae sweeps analysis tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
