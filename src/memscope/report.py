"""Self-contained HTML reports in one visual language: every page (each study's, the audit's, the index of
`memscope report`) is the shared template templates/page.html.j2 with the one stylesheet templates/report.css
inlined, figures embedded as data URIs, no external assets. Verdicts are badges (claims.claim_badge), a
missing value is one mark (MISSING), figure-only sections stand two to a row on wide screens."""
from __future__ import annotations

import base64
import functools
import html
import io
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from . import store

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MISSING = "\u2013"
"""The one mark of a missing value in every report's tables (an en dash)."""

_FIGURES_ONLY = re.compile(r"\s*(?:(?:<figure\b.*?</figure>|<img\b[^>]*>)\s*)+", re.DOTALL)


@functools.lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader
    return Environment(loader=PackageLoader("memscope", "templates"), autoescape=True)


def stylesheet() -> str:
    """The one stylesheet of every report (templates/report.css)."""
    env = _environment()
    return env.loader.get_source(env, "report.css")[0]


def figure_png(fig: Figure) -> bytes:
    """A matplotlib Figure (built without pyplot: no global state, safe in threads) as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_to_data_uri(fig: Figure) -> str:
    """A matplotlib Figure as a PNG data URI, for an <img> in a self-contained page."""
    return png_data_uri(figure_png(fig))


def img(uri: str, alt: str = "", caption: str = "") -> str:
    """A figure at the full width of its column, with a one-line caption (what to look at) when given."""
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="fig"><img src="{uri}" alt="{html.escape(alt)}">{cap}</figure>'


def is_missing(value) -> bool:
    """None, NaN, or a lone hyphen (the older reports' mark): shown as MISSING."""
    if isinstance(value, float):
        return math.isnan(value)
    return value is None or (isinstance(value, str) and value == "-")


def cell(value) -> str:
    """One table cell: escaped text, or the missing mark."""
    if is_missing(value):
        return f'<td class="missing" title="no value">{MISSING}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def table(header: list[str], rows: list[list], cls: str = "") -> str:
    """An HTML table; cells are escaped text, None (or NaN) the one missing mark."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in rows)
    attr = f' class="{html.escape(cls)}"' if cls else ""
    return f"<table{attr}><tr>{head}</tr>{body}</table>"


def settings_table(settings: dict) -> str:
    """Settings as a definition table: one row per name, its value (the missing mark for None)."""
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th>{cell(v)}</tr>" for k, v in settings.items())
    return f'<table class="settings">{rows}</table>'


def _blocks(sections: list[tuple[str, str]]) -> list[dict]:
    """Runs of sections that hold only figures become one grid (two columns on wide screens); the others
    stand alone at the page's width."""
    from markupsafe import Markup
    blocks: list[dict] = []
    for heading, body in sections:
        grid = bool(_FIGURES_ONLY.fullmatch(body))
        section = {"heading": heading, "body": Markup(body)}
        if blocks and grid and blocks[-1]["grid"]:
            blocks[-1]["sections"].append(section)
        else:
            blocks.append({"grid": grid, "sections": [section]})
    return blocks


def html_page(title: str, sections: list[tuple[str, str]], lead: str = "") -> str:
    """A whole page: sections are (heading, inner HTML) pairs, already escaped where they hold text; lead is
    one plain-text sentence under the title."""
    from markupsafe import Markup
    page = _environment().get_template("page.html.j2").render(
        title=title, lead=lead, css=Markup(stylesheet()), blocks=_blocks(sections), missing=MISSING)
    return page + "\n"


def write_page(path: Path, title: str, sections: list[tuple[str, str]], lead: str = "") -> Path:
    store.write_text(Path(path), html_page(title, sections, lead))
    return Path(path)
