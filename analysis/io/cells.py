"""Canonical cells: a trial's hyperparameters are its objective's *effective* parameters.

The sweep records every effective parameter (defaults included). An older results.csv
recorded only what a space set, so L-VAE built with no parameters (the ``baselines``,
``arch`` and ``seeds`` spaces) had no ``hp.lambda`` and became a cell of its own.
:func:`fill_defaults` completes such rows from lvae's objective registry, so the same
configuration is the same cell whatever space or results file it came from.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lvae.contract import HP_PREFIX


def objective_defaults(objective: str) -> dict[str, Any] | None:
    """The objective's default parameters from lvae's registry (None if lvae lacks it)."""
    try:
        from lvae.objectives import OBJECTIVES
    except ImportError:
        return None
    cls = OBJECTIVES.get(objective)
    return dict(cls.defaults) if cls is not None else None


def fill_defaults(df: pd.DataFrame) -> pd.DataFrame:
    """Fill each row's missing ``hp.<param>`` with its objective's default.

    Only parameters of the row's own objective are filled; a column a results file lacks
    is created. Rows of objectives lvae does not know are left as they are.
    """
    out = df.copy()
    for objective in out["objective"].dropna().unique():
        rows = out["objective"] == objective
        for name, value in (objective_defaults(str(objective)) or {}).items():
            col = f"{HP_PREFIX}{name}"
            column = (
                out[col].astype(object)
                if col in out.columns
                else pd.Series(None, index=out.index, dtype=object)
            )
            out[col] = column.where(~(rows & column.isna()), value)
    for col in (c for c in out.columns if c.startswith(HP_PREFIX)):
        # numbers where they are numbers; a categorical parameter (hp.regulariser) stays text
        try:
            out[col] = pd.to_numeric(out[col])
        except (ValueError, TypeError):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out
