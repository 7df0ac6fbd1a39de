"""STORE/index.sqlite: one row per run of a sweep store (name, config hash, status, summary)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from pathlib import Path

from .. import store
from ..errors import MemscopeError, escape
from ..runconfig import RunConfig

INDEX = "index.sqlite"


def config_hash(rc: RunConfig) -> str:
    return hashlib.sha256(json.dumps(rc.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


_COLUMNS = ("name", "config_hash", "task", "model", "seed", "status", "summary", "updated")


class Index:
    """STORE/index.sqlite: one row per run (name, config hash, status, summary); written by the driver only."""

    def __init__(self, root: Path):
        root = Path(root)
        if root.is_symlink() and not root.exists():
            raise MemscopeError(f"store {escape(root)} is a link to nothing: remove it or choose another store")
        store.safe_path(root, kind="dir")
        root.mkdir(parents=True, exist_ok=True)
        # a link (to nothing, or out of the store) or a special file there would make sqlite write elsewhere
        try:
            self.path = store.safe_path(root, INDEX)
        except MemscopeError as e:
            raise MemscopeError(f"corrupt run index: {e}") from None
        existed = self.path.is_file()
        self.db = sqlite3.connect(self.path)
        with self._reading():
            tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if existed and "runs" not in tables:
                raise sqlite3.DatabaseError(f"it holds tables {sorted(tables)}, not memscope's runs")
            self.db.execute("CREATE TABLE IF NOT EXISTS runs (name TEXT PRIMARY KEY, config_hash TEXT, task TEXT, "
                            "model TEXT, seed INTEGER, status TEXT, summary TEXT, updated REAL)")
            self.db.commit()
            info = list(self.db.execute("PRAGMA table_info(runs)"))
            columns = [row[1] for row in info]
            if columns != list(_COLUMNS):
                raise sqlite3.DatabaseError(f"its runs table has columns {columns}, not memscope's")
            types = [str(row[2]).upper() for row in info]
            if types != list(_TYPES) or [row[5] for row in info][0] != 1:
                raise sqlite3.DatabaseError(f"its runs table has column types {types}, not memscope's")

    @contextlib.contextmanager
    def _reading(self):
        """sqlite3 says 'file is not a database' (or worse) only at the first statement: one line instead."""
        try:
            yield
        except (sqlite3.DatabaseError, json.JSONDecodeError) as e:
            self.db.close()
            raise MemscopeError(f"corrupt run index: {self.path} ({e}); move it aside and rerun the sweep "
                                "to rebuild it") from None

    def set(self, name: str, rc: RunConfig, status: str, summary: dict | None = None) -> None:
        with self._reading(), self.db:
            self.db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (name, config_hash(rc), rc.task, rc.preset, rc.train.seed, status,
                             None if summary is None else store.dumps(summary), time.time()))

    def rows(self) -> list[dict]:
        """Every row, in name order; a row whose values are not what memscope writes (a text seed, a summary
        that is not a JSON object, an unknown status) is listed with status "damaged" and its `damage`."""
        with self._reading():
            cur = self.db.execute("SELECT name, config_hash, task, model, seed, status, summary FROM runs "
                                  "ORDER BY name")
            cols = [c[0] for c in cur.description]
            return [_row(dict(zip(cols, row))) for row in cur]

    def close(self) -> None:
        self.db.close()


STATUSES = ("pending", "running", "done", "failed")
_TYPES = ("TEXT", "TEXT", "TEXT", "TEXT", "INTEGER", "TEXT", "TEXT", "REAL")


def _row(row: dict) -> dict:
    """An index row as memscope wrote it, or the row marked damaged (every value made printable JSON)."""
    damage = []
    for key in ("name", "config_hash", "task", "model"):
        if not isinstance(row[key], str):
            damage.append(f"{key} is {type(row[key]).__name__}, not text")
        elif not row[key].isprintable() or not row[key]:
            damage.append(f"{key} {escape(row[key])[:60]!s} is not a name memscope writes")
    if not isinstance(row["seed"], int) or isinstance(row["seed"], bool):
        damage.append(f"seed is {type(row['seed']).__name__}, not an integer")
    if row["status"] not in STATUSES:
        damage.append(f"status is {escape(row['status'])[:40]!s}, not one of {', '.join(STATUSES)}")
    summary = row["summary"]
    if summary is not None:
        try:
            summary = store.loads(summary) if isinstance(summary, str) else summary
        except ValueError as e:
            damage.append(f"summary is not JSON ({str(e)[:60]})")
            summary = None
        if summary is not None and not isinstance(summary, dict):
            damage.append(f"summary is {type(summary).__name__}, not a JSON object")
            summary = None
    if row["status"] == "done" and summary is None and not damage:
        damage.append("a done run without its summary")
    if not damage:
        return row | {"summary": summary}
    name = escape(row["name"])
    return {"name": name, "config_hash": escape(row["config_hash"]) if isinstance(row["config_hash"], str) else "",
            "task": None, "model": None, "seed": None, "status": "damaged", "summary": None,
            "damage": f"{'; '.join(damage)}: rerun the sweep that made the store to rewrite the row"}


def list_runs(root: Path) -> list[dict]:
    root = Path(root)
    path = store.safe_path(root, INDEX)  # a link out of the store, a FIFO: refused before sqlite opens it
    if not path.is_file():
        raise MemscopeError(f"no run index at {escape(path)}")
    index = Index(root)
    try:
        return index.rows()
    finally:
        index.close()

