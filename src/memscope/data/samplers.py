"""Data order: which rows of training text each step sees, for K members of one group at once.

Three samplers (TrainConfig.sampler):
- `windows`: B windows starting anywhere in the task's text, uniform (nanoGPT's `get_batch`, the paper's).
- `aligned`: B windows starting at a line's BOS (the newline before it), lines drawn uniformly with
  replacement: one sequence per row (random-tokens, canaries).
- `epochs`: every training line exactly once per epoch, one line per row after its BOS, the epoch's order
  a seeded shuffle that depends only on (seed, phase, epoch) so a resumed run draws the same; targets past
  the line's end are masked out of the loss. A batch never straddles two epochs (an epoch's last batch
  may be smaller), so "seen once" means once.
A phase's mixture (runconfig.py): the first task is the main data; each further task fills `share` of the
rows. windows / aligned draw each row's task with those probabilities; epochs adds, to every epoch of the
main task's N lines, round(share / main share x N) lines of each further task, drawn without replacement in
a fresh seeded order each epoch (replay), shuffled in with the main lines.

Exposure counts (how many rows held each line) are exact for `aligned` and `epochs` and kept per member,
per phase and per task; `windows` cuts lines anywhere, so it counts nothing.

A task may exclude tokens from the loss (Task.line_loss_mask, e.g. minGPT's adder masks the prompt):
masked targets are -100, cross-entropy's ignore index.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..tasks import Task
from ..vocab import BOS

IGNORE = -100
"""Target id that F.cross_entropy skips (its default ignore_index)."""


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from integers (seed, phase, epoch, ...), the same on every machine and run."""
    digest = hashlib.sha256(",".join(str(int(p)) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def resolve_sampler(name: str | None, task: Task) -> str:
    """The sampler a run uses: the configured one, or the task's own (aligned for line tasks)."""
    return name or ("aligned" if task.aligned else "windows")


@dataclass
class Source:
    """One task's training data laid out for a sampler: token ids, which targets count, line spans."""

    ids: list[int]
    target_ok: list[bool] | None
    """Per position: does the token there count as a target (None: all do)."""
    starts: list[int] | None
    """Offsets where rows start (the BOS before each line); None: anywhere (windows)."""
    ends: list[int] | None
    """Offset of each line's last token (its newline), for epochs' masking past the line."""

    @property
    def n_lines(self) -> int:
        return len(self.starts or [])


def _line_mask(task: Task, lines: list[str]) -> list[bool] | None:
    masks = [task.line_loss_mask(line) for line in lines]
    if all(m is None for m in masks):
        return None
    return [ok for line, m in zip(lines, masks) for ok in (m if m is not None else [True] * len(line))]


def _reads_text(task: Task, sampler: str) -> bool:
    """Whether the sampler reads the task's own text (windows anywhere, or at the task's own line starts),
    rather than one line per row laid out by make_source."""
    return sampler == "windows" or (sampler == "aligned" and task.window_starts() is not None)


def check_lines(task: Task, sampler: str, window: int) -> None:
    """A sampler with one line per row needs lines that end in a newline and fit the training window."""
    if _reads_text(task, sampler):
        return
    lines = task.lines()
    bad = [line for line in lines if not line.endswith(BOS)]
    if bad:
        raise ConfigError(f"sampler={sampler} needs lines that end in a newline (task {task.name!r}: {bad[0]!r})")
    longest = max(lines, key=len)
    if len(longest) > window:
        raise ConfigError(f"sampler={sampler}: a line of task {task.name!r} has {len(longest)} characters, more "
                          f"than the training window of {window} (raise block_size or window)")


def make_source(task: Task, sampler: str, window: int, vocab) -> Source:
    """Task text laid out for the sampler, encoded with the run's vocabulary."""
    lines = task.lines()
    if _reads_text(task, sampler):
        text = task.text
        body = "".join(lines)
        prefix = text[: len(text) - len(body)]
        mask = _line_mask(task, lines)
        starts = None if sampler == "windows" else list(task.window_starts())
        return Source(vocab.encode(text), None if mask is None else [True] * len(prefix) + mask, starts, None)
    check_lines(task, sampler, window)  # one row per line, after the BOS before it
    text = BOS + "".join(lines)
    starts, ends, pos = [], [], 0
    for line in lines:
        starts.append(pos)
        pos += len(line)
        ends.append(pos)
    mask = _line_mask(task, lines)
    pad = window + 1  # rows near the end read past the text: padding that no target uses
    ids = vocab.encode(text) + [0] * pad
    target_ok = [True] + (mask or [True] * (len(text) - 1)) + [False] * pad
    return Source(ids, target_ok, starts, ends)


MAX_EPOCH_ROWS = 10 ** 7
"""The most rows one epoch of an epochs phase may hold: each member keeps its epoch's order (two int64s
a row) in memory, so a main task left a tiny share (replay 0.999999 makes the replay a million times the
main task's lines) is refused before any of it is drawn."""


MAX_REPLAY_CYCLES = 10 ** 5
"""The most times one epoch may cycle through a replay task's lines (a fresh shuffle of them each time)."""


def rows_per_epoch(n_lines: list[int], shares: list[float | None]) -> list[int]:
    """Rows each task fills in one epoch: all N main lines, round(share / main share x N) of the others.
    ConfigError when the epoch would exceed MAX_EPOCH_ROWS rows."""
    main_share = 1.0 - sum(s for s in shares[1:])
    if not main_share > 0:
        raise ConfigError(f"shares {shares[1:]} leave nothing for the main task")
    most = MAX_EPOCH_ROWS / max(n_lines[0], 1)  # rows per main line: 1 / main share
    if n_lines[0] and 1.0 / main_share > most:
        raise ConfigError(
            f"sampler=epochs: replay shares {', '.join(f'{s:g}' for s in shares[1:])} leave the main task "
            f"{main_share:.3g} of the rows, so one epoch of its {n_lines[0]:,} lines would hold about "
            f"{n_lines[0] / main_share:,.0f} rows, more than the limit of {MAX_EPOCH_ROWS:,}: the main task "
            f"needs a share of at least {n_lines[0] / MAX_EPOCH_ROWS:.3g} (replay shares summing to at most "
            f"{1 - n_lines[0] / MAX_EPOCH_ROWS:.6g})")
    rows = [n_lines[0]] + [round(s / main_share * n_lines[0]) for s in shares[1:]]
    for c in range(1, len(rows)):
        if n_lines[c] and math.ceil(rows[c] / n_lines[c]) > MAX_REPLAY_CYCLES:
            raise ConfigError(
                f"sampler=epochs: replay share {shares[c]:g} asks {rows[c]:,} rows an epoch of a task of "
                f"{n_lines[c]:,} lines, cycling through it more than the limit of {MAX_REPLAY_CYCLES:,} times "
                "an epoch: give it a smaller share or more lines")
    return rows


def epoch_plan(tasks: list[Task], shares: list[float | None], batch_size: int) -> tuple[int, int]:
    """(rows per epoch, steps per epoch) of an epochs phase."""
    rows = sum(rows_per_epoch([len(t.lines()) for t in tasks], shares))
    return rows, math.ceil(rows / batch_size)


class PhaseBatches:
    """The batches of one phase for K members; member k reads its own tasks with its own generator."""

    def __init__(self, sources: list[list[Source]], shares: list[float | None], sampler: str, window: int,
                 batch_size: int, generators: list[torch.Generator], seeds: list[int], phase: int,
                 device: torch.device):
        self.sampler, self.window, self.batch_size = sampler, window, batch_size
        self.generators, self.seeds, self.phase, self.device = generators, seeds, phase, device
        self.n_tasks = len(shares)
        self.probs = torch.tensor([1.0 - sum(s for s in shares[1:])] + [s for s in shares[1:]])
        self.shares = shares
        K = len(sources)
        # member k's tasks side by side in one row of token ids, task c from offsets[k][c]
        self.offsets = [[0] * self.n_tasks for _ in range(K)]
        rows, masks = [], []
        for k, srcs in enumerate(sources):
            ids, ok = [], []
            for c, s in enumerate(srcs):
                self.offsets[k][c] = len(ids)
                ids += s.ids
                ok += s.target_ok if s.target_ok is not None else [True] * len(s.ids)
            rows.append(ids)
            masks.append(ok)
        self.lengths = [[len(s.ids) for s in srcs] for srcs in sources]
        width = max(len(r) for r in rows)
        self.data = torch.zeros(K, width, dtype=torch.long, device=device)
        for k, r in enumerate(rows):
            self.data[k, : len(r)] = torch.tensor(r, dtype=torch.long)
        self.masked = any(s.target_ok is not None for srcs in sources for s in srcs)
        self.target_ok = None
        if self.masked:
            self.target_ok = torch.zeros(K, width, dtype=torch.bool, device=device)
            for k, m in enumerate(masks):
                self.target_ok[k, : len(m)] = torch.tensor(m)
        self.starts = [[None if s.starts is None else torch.tensor(s.starts, dtype=torch.long, device=device)
                        for s in srcs] for srcs in sources]
        self.ends = [[None if s.ends is None else torch.tensor(s.ends, dtype=torch.long, device=device)
                      for s in srcs] for srcs in sources]
        self.counts = [[torch.zeros(s.n_lines, dtype=torch.long, device=device) for s in srcs] for srcs in sources]
        """Exposure counts per member and task (aligned and epochs samplers), on the device: the single-task
        aligned draw, every step, counts without a copy to the host."""
        self.offsets_t = torch.arange(window, device=device)
        self.rows = torch.arange(K, device=device)[:, None, None]
        self._epoch: tuple[int, list[torch.Tensor]] | None = None
        if sampler == "epochs":
            self.epoch_rows = rows_per_epoch([s.n_lines for s in sources[0]], shares)
            n = sum(self.epoch_rows)
            self.steps_per_epoch = math.ceil(n / batch_size)

    # ------------------------------------------------------------------ windows and aligned
    def _draw(self, k: int) -> torch.Tensor:
        """Member k's B row starts (absolute offsets in its data row)."""
        g = self.generators[k]
        if self.n_tasks == 1:  # the single-task draw, exactly as nanoGPT's get_batch
            starts = self.starts[k][0]
            high = self.lengths[k][0] - self.window if starts is None else len(starts)
            ix = torch.randint(high, (self.batch_size,), generator=g, device=self.data.device)
            if starts is not None:
                self.counts[k][0] += torch.bincount(ix, minlength=len(starts))
                return starts[ix]
            return ix
        # drawn on the generator's device (CPU or CUDA), then read on the CPU
        task = torch.multinomial(self.probs.to(g.device), self.batch_size, replacement=True, generator=g).cpu()
        u = torch.rand(self.batch_size, generator=g, dtype=torch.float64, device=g.device).cpu()
        out = torch.empty(self.batch_size, dtype=torch.long)
        for c in range(self.n_tasks):
            rows = (task == c).nonzero().flatten()
            starts = self.starts[k][c]
            n = self.lengths[k][c] - self.window if starts is None else len(starts)
            pick = (u[rows] * n).long().clamp(max=n - 1)
            if starts is None:
                out[rows] = self.offsets[k][c] + pick
            else:
                self.counts[k][c] += torch.bincount(pick, minlength=n).to(self.device)
                out[rows] = self.offsets[k][c] + starts.cpu()[pick]
        return out.to(self.data.device)

    # ------------------------------------------------------------------ epochs
    def _epoch_order(self, k: int, epoch: int) -> list[tuple[int, torch.Tensor]]:
        """Member k's rows of one epoch in order: (task, line) pairs as two tensors."""
        seed = self.seeds[k]
        tasks, lines = [], []
        for c, n_rows in enumerate(self.epoch_rows):
            n_lines = len(self.starts[k][c])
            if c == 0:
                picked = torch.arange(n_lines)
            else:  # replay: a fresh draw without replacement each epoch (cycling if it asks for more)
                g = torch.Generator().manual_seed(derived_seed(seed, self.phase, epoch, c))
                reps = math.ceil(n_rows / n_lines) if n_lines else 0  # at most MAX_REPLAY_CYCLES
                picked = torch.empty(reps * n_lines, dtype=torch.long)
                for r in range(reps):  # filled in place: no list of `reps` tensors
                    picked[r * n_lines: (r + 1) * n_lines] = torch.randperm(n_lines, generator=g)
                picked = picked[:n_rows]
            tasks.append(torch.full((len(picked),), c, dtype=torch.long))
            lines.append(picked)
        tasks_t, lines_t = torch.cat(tasks), torch.cat(lines)
        order = torch.randperm(len(tasks_t), generator=torch.Generator().manual_seed(
            derived_seed(seed, self.phase, epoch)))
        return [tasks_t[order], lines_t[order]]

    def _epoch_rows(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, B') row starts and line ends of the batch at `step` of the phase."""
        epoch, i = divmod(step, self.steps_per_epoch)
        if self._epoch is None or self._epoch[0] != epoch:
            self._epoch = (epoch, [self._epoch_order(k, epoch) for k in range(len(self.seeds))])
        starts, ends = [], []
        for k, (tasks, lines) in enumerate(self._epoch[1]):
            t, ln = tasks[i * self.batch_size: (i + 1) * self.batch_size], lines[i * self.batch_size: (i + 1) * self.batch_size]
            s, e = torch.empty(len(t), dtype=torch.long), torch.empty(len(t), dtype=torch.long)
            for c in range(self.n_tasks):
                rows = (t == c).nonzero().flatten()
                if len(rows):
                    self.counts[k][c] += torch.bincount(ln[rows], minlength=len(self.starts[k][c])).to(self.device)
                    s[rows] = self.offsets[k][c] + self.starts[k][c].cpu()[ln[rows]]
                    e[rows] = self.offsets[k][c] + self.ends[k][c].cpu()[ln[rows]]
            starts.append(s)
            ends.append(e)
        return torch.stack(starts).to(self.device), torch.stack(ends).to(self.device)

    # ------------------------------------------------------------------ the batch
    def next(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x, y: (K, B, T) inputs and targets for `step` of the phase (masked targets are IGNORE)."""
        ends = None
        if self.sampler == "epochs":
            ix, ends = self._epoch_rows(step)
        else:
            ix = torch.stack([self._draw(k) for k in range(len(self.generators))])  # (K, B)
        pos = ix[:, :, None] + self.offsets_t  # (K, B, T)
        x, y = self.data[self.rows, pos], self.data[self.rows, pos + 1]
        if self.masked:
            ok = self.target_ok[self.rows, pos + 1]
            if ends is not None:
                ok = ok & (pos + 1 <= ends[:, :, None])
            y = torch.where(ok, y, torch.full_like(y, IGNORE))
        return x, y

    def counts_state(self, k: int) -> dict[str, torch.Tensor]:
        return {f"exposure.{self.phase}.{c}": n for c, n in enumerate(self.counts[k])}

    def load_counts(self, k: int, tensors: dict[str, torch.Tensor]) -> None:
        for c in range(self.n_tasks):
            saved = tensors.get(f"exposure.{self.phase}.{c}")
            if saved is not None and saved.shape == self.counts[k][c].shape:
                self.counts[k][c] = saved.to(self.device, copy=True)

