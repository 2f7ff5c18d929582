"""Reading the HTML report back by section, for the report tests."""

from __future__ import annotations

import html
import re


def sections(page: str) -> dict[str, str]:
    """Section title -> its HTML (so a note can be checked to be in the right place)."""
    parts = re.split(r"<h2 id='s\d+'>", page)[1:]
    return {html.unescape(p.split("</h2>", 1)[0]): html.unescape(p) for p in parts}


def section(page: str, start: str) -> str:
    found = [body for title, body in sections(page).items() if title.startswith(start)]
    assert len(found) == 1, (start, list(sections(page)))
    return found[0]
