"""TrainConfig.validate: every rule's message names the field, what it must be and the value."""

from __future__ import annotations

import dataclasses
import re

import pytest

from lvae.config import FIELD_RULES, TrainConfig

CASES = [
    ("latent_dim", 0, "an integer >= 1"),
    ("batch_size", True, "an integer >= 1"),
    ("steps", 1.5, "an integer >= 1"),
    ("log_every", -1, "an integer >= 1"),
    ("checkpoint_every", "5", "an integer >= 1"),
    ("image_every", -1, "an integer >= 0"),
    ("eval_num_train", 2.0, "an integer >= 0"),
    ("eval_num_test", None, "an integer >= 0"),
    ("lr", 0, "> 0"),
    ("lr", "1e-3", "> 0"),
    ("lr", float("nan"), "> 0"),
    ("objective_lr", -0.1, "None or > 0"),
    ("threads", 0, "None or an integer >= 1"),
    ("channels_last", 1, "true, false or null (by CPU)"),
    ("eval_every", False, "an integer >= 0"),
    ("eval_every", -5, "an integer >= 0"),
    ("track_num_train", 0, "an integer >= 1"),
    ("track_num_test", True, "an integer >= 1"),
    ("seed", -1, "an integer >= 0"),
    ("seed", True, "an integer >= 0"),
    ("objective_betas", [0.5], "two numbers in [0, 1)"),
    ("objective_betas", [0.5, 1.0], "two numbers in [0, 1)"),
    ("objective_betas", "0.5,0.9", "two numbers in [0, 1)"),
    ("data_on_device", "yes", "true, false or null (by device)"),
    ("precision", "fp16", "one of fp32, bf16"),
    ("compile", "fast", "one of none, default, reduce-overhead, max-autotune"),
    ("deterministic", None, "true or false"),
    ("final_optimizer_state", "yes", "true or false"),
    ("objective_params", [], "a dict"),
    ("eval_representation", "median", "'mean' or 'sampled'"),
]


@pytest.mark.parametrize(("name", "value", "expected"), CASES)
def test_each_rule_names_the_field(name, value, expected) -> None:
    message = f"config.{name} must be {expected}, got {value!r}"
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        TrainConfig(**{name: value}).validate()


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"objective_lr": None, "threads": None, "channels_last": None, "data_on_device": None},
        {"objective_lr": 1, "threads": 2, "channels_last": True, "data_on_device": False},
        {"image_every": 0, "eval_num_train": 0, "eval_num_test": 0, "eval_every": 0, "seed": 0},
        {"objective_betas": (0, 0.999), "precision": "bf16", "compile": "max-autotune"},
        {"deterministic": True, "objective_params": {"lambda": 1}},
        {"eval_representation": "sampled"},
    ],
)
def test_valid_configs_pass(changes) -> None:
    TrainConfig(**changes).validate()


def test_the_first_broken_rule_is_reported() -> None:
    config = TrainConfig(steps=0, lr=-1.0, precision="fp16")
    with pytest.raises(ValueError, match=r"^config\.steps "):
        config.validate()
    config.steps = 1
    with pytest.raises(ValueError, match=r"^config\.lr "):
        config.validate()


def test_every_rule_names_real_fields_and_every_case_is_covered() -> None:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    ruled = [name for rule in FIELD_RULES for name in rule.fields]
    assert len(ruled) == len(set(ruled)) and set(ruled) <= fields
    assert {name for name, _, _ in CASES} == set(ruled)
