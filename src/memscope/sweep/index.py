"""STORE/index.sqlite: one row per run of a sweep store (name, config hash, status, summary)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from pathlib import Path

from ..errors import MemscopeError
from ..runconfig import RunConfig

INDEX = "index.sqlite"


def config_hash(rc: RunConfig) -> str:
    return hashlib.sha256(json.dumps(rc.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


_COLUMNS = ("name", "config_hash", "task", "model", "seed", "status", "summary", "updated")


class Index:
    """STORE/index.sqlite: one row per run (name, config hash, status, summary); written by the driver only."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / INDEX
        if self.path.exists() and not self.path.is_file():
            raise MemscopeError(f"corrupt run index: {self.path} is not a file")
        existed = self.path.is_file()
        self.db = sqlite3.connect(self.path)
        with self._reading():
            tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if existed and "runs" not in tables:
                raise sqlite3.DatabaseError(f"it holds tables {sorted(tables)}, not memscope's runs")
            self.db.execute("CREATE TABLE IF NOT EXISTS runs (name TEXT PRIMARY KEY, config_hash TEXT, task TEXT, "
                            "model TEXT, seed INTEGER, status TEXT, summary TEXT, updated REAL)")
            self.db.commit()
            columns = [row[1] for row in self.db.execute("PRAGMA table_info(runs)")]
            if columns != list(_COLUMNS):
                raise sqlite3.DatabaseError(f"its runs table has columns {columns}, not memscope's")

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
                             None if summary is None else json.dumps(summary), time.time()))

    def rows(self) -> list[dict]:
        with self._reading():
            cur = self.db.execute("SELECT name, config_hash, task, model, seed, status, summary FROM runs "
                                  "ORDER BY name")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, row)) | {"summary": json.loads(row[-1]) if row[-1] else None} for row in cur]

    def close(self) -> None:
        self.db.close()


def list_runs(root: Path) -> list[dict]:
    root = Path(root)
    if not (root / INDEX).is_file():
        raise MemscopeError(f"no run index at {root / INDEX}")
    index = Index(root)
    try:
        return index.rows()
    finally:
        index.close()

