"""A self-contained HTML page from report sections (figures inlined as base64 PNG)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

import pandas as pd

STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #aaa; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f0f0f0; } .note { background: #fff4d6; border-left: 4px solid #e0a000;
padding: 0.4em 0.8em; margin: 0.5em 0; } .reading { background: #eef6ff; border-left: 4px solid
#3a7bd5; padding: 0.4em 0.8em; } figure { margin: 1em 0; } img { max-width: 100%; }
.scroll { overflow-x: auto; max-height: 40em; overflow-y: auto; }
"""


@dataclass
class Section:
    """One part of the report. Notes are the visible warnings ('n trials failed: ...')."""

    title: str
    notes: list[str] = field(default_factory=list)
    readings: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, bytes]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    #: long tables written as CSV only (the HTML names the file)
    csv_only: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    #: wall seconds its builder took, and the CPU seconds of the thread that built it (set by
    #: analysis.report.build.build_report; work in worker processes or the background thread of
    #: analysis.report.stability_section is not included)
    seconds: float = float("nan")
    cpu_seconds: float = float("nan")


def _table_html(name: str, table: pd.DataFrame, max_rows: int) -> str:
    shown = table.head(max_rows)
    more = (f"<p>showing {max_rows} of {len(table)} rows; all rows in {html.escape(name)}.csv</p>"
            if len(table) > max_rows else f"<p>table: {html.escape(name)}.csv</p>")
    body = shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="NaN", border=0)
    return f'<div class="scroll">{body}</div>{more}'


def render(title: str, sections: list[Section], max_rows: int = 200) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts.append("<ul>" + "".join(f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>"
                                  for i, s in enumerate(sections)) + "</ul>")
    for i, s in enumerate(sections):
        parts.append(f"<h2 id='s{i}'>{html.escape(s.title)}</h2>")
        parts += [f"<p>{html.escape(t)}</p>" for t in s.text]
        parts += [f"<div class='note'>{html.escape(n)}</div>" for n in s.notes]
        parts += [f"<p class='reading'>{html.escape(r)}</p>" for r in s.readings]
        for name, png in s.figures:
            data = base64.b64encode(png).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(name)}' "
                         f"src='data:image/png;base64,{data}'><figcaption>{html.escape(name)}</figcaption></figure>")
        parts += [_table_html(name, t, max_rows) for name, t in s.tables]
        parts += [f"<p>{len(t)} rows in {html.escape(name)}.csv</p>" for name, t in s.csv_only]
    parts.append("</body></html>")
    return "\n".join(parts)
