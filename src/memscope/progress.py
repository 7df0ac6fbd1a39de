"""Progress of long work: a bar where a person watches (a terminal, or Jupyter through tqdm.auto), and in a
log file a plain line at most every LOG_EVERY_S seconds (a bar's carriage returns make a log unreadable)."""
from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("memscope.progress")

LOG_EVERY_S = 30.0
"""Seconds between progress lines when the output is not a terminal."""


def in_notebook() -> bool:
    """True inside a Jupyter (IPython kernel) session, where tqdm.auto draws a widget bar."""
    shell = sys.modules.get("IPython")
    try:
        return shell is not None and shell.get_ipython() is not None and "IPKernelApp" in shell.get_ipython().config
    except Exception:  # an IPython without a kernel, or one that cannot say
        return False


class LogProgress:
    """tqdm's update/set_postfix/close, written as one log line at most every `every_s` seconds."""

    def __init__(self, total: int | None, desc: str | None, unit: str, initial: int = 0,
                 every_s: float = LOG_EVERY_S):
        self.total, self.desc, self.unit, self.n = total, desc or "progress", unit, initial
        self.every_s, self.postfix = every_s, ""
        self.t0 = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            of = f"/{self.total}" if self.total else ""
            log.info("%s: %d%s %s%s, %.0f s", self.desc, self.n, of, self.unit, self.postfix, now - self.t0)

    def set_postfix(self, **kw) -> None:
        self.postfix = " (" + ", ".join(f"{k} {v}" for k, v in kw.items()) + ")"

    def close(self) -> None:
        pass


def progress(total: int | None, *, desc: str | None = None, unit: str = "it", initial: int = 0,
             leave: bool = True, enabled: bool = True):
    """A progress bar (tqdm.auto) in a terminal or a notebook, else a LogProgress; `enabled=False` shows
    nothing (inner loops whose caller reports)."""
    if enabled and (sys.stderr.isatty() or in_notebook()):
        from tqdm.auto import tqdm
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave)
    return LogProgress(total, desc, unit, initial, every_s=LOG_EVERY_S if enabled else float("inf"))
