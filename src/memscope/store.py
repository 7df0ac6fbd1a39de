"""Run directories on disk: atomic writes, JSON for everything, safetensors for tensors (never pickle)."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from .errors import MemscopeError

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
MODEL = "model.safetensors"
BEST = "best.safetensors"
CHECKPOINT = "checkpoint.safetensors"
LOCK = ".lock"


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold RUN_DIR/.lock while training it: a second process that tries gets an error, never a duplicate
    run. The OS drops the lock when its process dies, so a killed run never stays locked. The lock file is
    opened without following a symbolic link, so a planted link cannot make memscope create or touch a
    file outside the run directory."""
    try:
        fd = os.open(Path(run_dir) / LOCK, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666)
    except OSError as e:
        raise MemscopeError(f"cannot lock {run_dir}: {Path(run_dir) / LOCK} is a link or unwritable "
                            f"({e.strerror})") from None
    f = os.fdopen(fd, "a")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MemscopeError(f"{run_dir} is being trained by another process") from None
        yield
    finally:
        f.close()


def write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps(obj, **kwargs) -> str:
    """JSON text; non-finite floats are refused (bare NaN / Infinity are not JSON)."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError as e:
        raise MemscopeError(f"refusing to write a non-finite number as JSON ({e})") from None


def _no_duplicates(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def loads(text: str):
    """Parse JSON strictly: no duplicate keys, no bare NaN / Infinity. Raises ValueError (incl. too deep
    nesting and over-long integers) for anything else."""
    def constant(name):
        raise ValueError(f"non-finite number {name}")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: Path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise MemscopeError(f"missing {what}: {path}")
    try:
        obj = loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        raise MemscopeError(f"corrupt {what}: {path} ({str(e).splitlines()[0][:120] or e.__class__.__name__})") from None
    if not isinstance(obj, dict):
        raise MemscopeError(f"corrupt {what}: {path} (not a JSON object)")
    return obj


def read_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file's non-blank lines, split on newlines only (a JSON string
    may hold U+2028 and other characters that str.splitlines would break on); one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise MemscopeError(f"no {what} file at {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MemscopeError(f"cannot read {what} file {path} ({e.__class__.__name__})") from None
    return [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    """One safetensors file; `metadata` (JSON-able) is stored as the file's `json` metadata entry."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    meta = {"json": json.dumps(metadata)} if metadata is not None else None
    atomic_write_bytes(path, st_save(tensors, metadata=meta))


def load_tensors(path: Path, what: str) -> tuple[dict[str, torch.Tensor], dict]:
    path = Path(path)
    if not path.is_file():
        raise MemscopeError(f"missing {what}: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = json.loads(meta["json"]) if "json" in meta else {}
    except Exception as e:  # safetensors raises several types for truncated or garbled files
        raise MemscopeError(f"corrupt {what}: {path} ({e.__class__.__name__})") from None
    return tensors, metadata


def read_metadata(path: Path) -> dict:
    """The JSON metadata of a safetensors file, without reading its tensors ({} if unreadable)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {}).get("json", "{}"))
    except Exception:
        return {}


def load_row(path: Path, k: int) -> tuple[dict[str, torch.Tensor], dict]:
    """Row k of every tensor of a stacked (ensemble) safetensors file, reading only that row from disk."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("json", "{}"))
            return {n: f.get_slice(n)[k] for n in f.keys()}, meta
    except Exception as e:
        raise MemscopeError(f"corrupt ensemble file: {path} ({e.__class__.__name__})") from None


def model_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """State dict without the tied output projection (it is the token embedding)."""
    return {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}


def load_model_tensors(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as e:
        raise MemscopeError(f"weights in {path} do not fit the run's model: {str(e).splitlines()[0]}") from None
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise MemscopeError(f"weights in {path} do not fit the run's model "
                            f"(missing {missing[:3]}, unexpected {unexpected[:3]})")


def read_metrics(path: Path, up_to_step: int | None = None) -> list[dict]:
    """Evaluation records in order; a torn last line (a killed write) is dropped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "step" in rec and (up_to_step is None or rec["step"] <= up_to_step):
            records.append(rec)
    return records


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def rewrite_jsonl(path: Path, records: list[dict]) -> None:
    atomic_write_bytes(path, "".join(dumps(r) + "\n" for r in records).encode())
