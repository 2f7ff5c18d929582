"""The HTML report and the notebooks: sections grouped by theme, built from the other
rooms' tables. ``python -m analysis.report EXP_DIR --out DIR`` builds it."""

from analysis.report.build import TIMINGS_NAME, main, write_report

__all__ = ["TIMINGS_NAME", "main", "write_report"]
