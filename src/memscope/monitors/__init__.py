"""Monitors: callbacks that measure a run while it trains, registered by name (`callbacks=...`).

They sit above the trainer and the tasks: the trainer calls them through the callback seam
(train/callbacks.py) and never imports them; train.callbacks imports this package by name on the first
lookup of a callback, so pool workers and Ray tasks rebuilding a run from config.json find them too.
- memorization.py: `memorization` (memorized bits against held-out items, capacity use), `fourier`
  (Fourier sparsity of the embeddings).
- memory.py: `memory` (canary exposure by exact rank, greedy extraction, facts and skill retention).
"""
from . import memorization, memory  # noqa: F401 (importing registers them)
