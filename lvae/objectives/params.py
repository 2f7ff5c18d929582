"""Validation of ``objective_params``, shared by the objectives' ``validate``.

Each check raises ValueError naming ``objective_params.<name>``, the objective, what was
expected and what was found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_number(
    obj: str, params: Mapping[str, Any], *names: str, low: float | None = None, strict: bool = False
) -> None:
    """Finite number, optionally ``> low`` (strict) or ``>= low``."""
    for n in names:
        v = params[n]
        ok = _is_number(v) and (low is None or (v > low if strict else v >= low))
        if not ok:
            bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
            raise ValueError(
                f"objective_params.{n} for {obj!r} must be a finite number{bound}, got {v!r}"
            )


def check_positive(obj: str, params: Mapping[str, Any], *names: str) -> None:
    check_number(obj, params, *names, low=0.0, strict=True)


def check_int(obj: str, params: Mapping[str, Any], *names: str, low: int = 1) -> None:
    for n in names:
        v = params[n]
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(
                f"objective_params.{n} for {obj!r} must be an integer >= {low}, got {v!r}"
            )


def check_choice(obj: str, params: Mapping[str, Any], name: str, choices: Sequence[str]) -> None:
    v = params[name]
    if v not in choices:
        raise ValueError(
            f"objective_params.{name} for {obj!r} must be one of {', '.join(choices)}, got {v!r}"
        )


# --- the set-point controllers' parameters (ControlVAE, DynamicVAE) ---------------------


def check_time_scale(obj: str, params: Mapping[str, Any]) -> None:
    check_number(obj, params, "time_scale", low=1.0)


def check_set_point(obj: str, params: Mapping[str, Any]) -> None:
    """Set-point schedule: c_start, c_step >= 0, c_step_every >= 1, c_max >= c_start."""
    check_number(obj, params, "c_start", "c_step", low=0.0)
    check_int(obj, params, "c_step_every")
    check_number(obj, params, "c_max")
    if params["c_max"] < params["c_start"]:
        raise ValueError(
            f"objective_params.c_max for {obj!r} must be >= objective_params.c_start "
            f"({params['c_start']!r}), got {params['c_max']!r}"
        )


def check_gain(obj: str, params: Mapping[str, Any], name: str, official: str) -> None:
    """Gains are >= 0 in this project's sign convention; say how to convert if not."""
    v = params[name]
    if not _is_number(v) or v < 0:
        raise ValueError(
            f"objective_params.{name} for {obj!r} must be a finite number >= 0, got {v!r} "
            f"(sign convention here: the integral term moves by -{name} * (set_point - KL); "
            f"{official})"
        )
