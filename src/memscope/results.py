"""Results a notebook user can hold: a dict (what `--json` prints) with `.to_dict()` and `.to_frame()`."""
from __future__ import annotations

import copy

from .errors import MemscopeError


def _frame(rows):
    try:
        import pandas as pd
    except ImportError:
        raise MemscopeError("to_frame needs pandas: pip install 'memscope[pandas]'") from None
    return pd.DataFrame(rows)


class Result(dict):
    """A result as a plain JSON-ready dict, plus a table view of its list-valued parts.

    `to_frame()` gives the rows a result is naturally a table of (`rows_key`: the claims of a study, the
    evaluations of a run); `to_frame("key")` any list of records inside it.
    """

    rows_key: str = "claims"

    def to_dict(self) -> dict:
        return copy.deepcopy(dict(self))

    def to_frame(self, key: str | None = None):
        key = key or self.rows_key
        rows = self.get(key)
        if not isinstance(rows, list):
            tables = [k for k, v in self.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
            raise MemscopeError(f"result has no table {key!r}; tables: {', '.join(tables) or 'none'}")
        return _frame(rows)


class RunResult(Result):
    """A training run's summary; its table is the run's evaluations (metrics.jsonl), read on demand."""

    rows_key = "metrics"

    def __init__(self, summary: dict, run_dir):
        super().__init__(summary)
        self.run_dir = run_dir

    def to_frame(self, key: str | None = None):
        if key in (None, "metrics"):
            from . import store
            return _frame(store.read_metrics(self.run_dir / store.METRICS))
        return super().to_frame(key)
