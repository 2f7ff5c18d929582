"""The named spaces as the runner builds them: cells, run length and Optuna's distributions."""

from __future__ import annotations

import pytest

from sweeps.cli import build_parser, validate
from sweeps.presets import PAPER_STEPS, get_preset
from sweeps.spaces import SPACES
from sweeps.tuner import param_space


def built(*argv: str) -> tuple[dict, object]:
    args = build_parser().parse_args(list(argv))
    space, preset = validate(args)
    return param_space(space, preset, args), preset


@pytest.mark.parametrize("steps", [None, 3000])
def test_steps_override_sets_the_run_length_and_the_controllers_time_scale(steps):
    argv = ["--space", "baselines", "--preset",
            "smoke"] + (["--steps", str(steps)] if steps else [])
    config, preset = built(*argv)
    expected_steps = steps or get_preset("smoke").steps
    assert preset.steps == config["train"]["steps"] == expected_steps
    cells = config["cell"]["grid_search"]
    scales = {c["objective"]: c["objective_params"]["time_scale"] for c in cells if
              "time_scale" in c["objective_params"]}
    assert set(scales) == {"controlvae", "dynamicvae"}
    assert all(s == pytest.approx(PAPER_STEPS / expected_steps) for s in scales.values())


def test_optuna_space_samples_from_its_distributions_on_top_of_the_preset():
    from ray.tune.search.sample import Domain

    config, preset = built("--space", "lvae_optuna", "--preset", "smoke")
    assert isinstance(config["train"]["lr"], Domain)
    assert config["train"]["batch_size"] == preset.batch_size
    assert config["train"]["steps"] == preset.steps
    params = config["cell"]["objective_params"]
    assert isinstance(params["lambda"], Domain) and isinstance(params["init_s_kl"], Domain)
    assert params["warm_start"] is False  # a searched initial balance needs a cold start


def test_only_optuna_spaces_carry_a_search_and_grid_spaces_list_cells():
    preset = get_preset("local")
    for space in SPACES.values():
        assert (space.search is not None) == (space.kind == "optuna"), space.name
        assert bool(space.cells(preset)) == (space.kind == "grid"), space.name


def test_sweep_wall_time_adds_up_over_resumed_sessions(tmp_path):
    import json

    from sweeps.results import SWEEP_FILE, add_wall_time, write_sweep_file

    write_sweep_file(tmp_path, {"space": "lvae_reg", "preset": "smoke"})
    assert add_wall_time(tmp_path, 12.5) == 12.5
    assert add_wall_time(tmp_path, 30.0) == 42.5  # a resumed session adds its own time
    saved = json.loads((tmp_path / SWEEP_FILE).read_text())
    assert saved == {"space": "lvae_reg", "preset": "smoke", "wall_time_s": 42.5}
    assert not [p.name for p in tmp_path.iterdir() if p.name != SWEEP_FILE]  # atomic: no temp left
