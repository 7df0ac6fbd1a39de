"""Self-contained HTML reports: figures embedded as data URIs, tables from rows, no external assets."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

from . import store

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.ok{color:#176f2c;font-weight:600}.no{color:#a11;font-weight:600}.ne{color:#666;font-weight:600}code{background:#f5f5f5;padding:0 .2em}"""


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


def img(uri: str, alt: str = "") -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def table(header: list[str], rows: list[list]) -> str:
    """An HTML table; cells are escaped text."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_page(title: str, sections: list[tuple[str, str]]) -> str:
    """A whole page: sections are (heading, inner HTML) pairs, already escaped where they hold text."""
    parts = [f"<h2>{html.escape(h)}</h2>\n{body}" for h, body in sections]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>\n" + "\n".join(parts)
            + "</body></html>\n")


def write_page(path: Path, title: str, sections: list[tuple[str, str]]) -> Path:
    store.write_text(Path(path), html_page(title, sections))
    return Path(path)
