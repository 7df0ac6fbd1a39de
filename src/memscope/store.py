"""Run directories on disk: atomic writes, JSON for everything, safetensors for tensors (never pickle)."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from .errors import MemscopeError, escape

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
MODEL = "model.safetensors"
BEST = "best.safetensors"
CHECKPOINT = "checkpoint.safetensors"
LOCK = ".lock"


_UMASK = os.umask(0)
os.umask(_UMASK)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def safe_path(root: Path, name: str | Path | None = None, kind: str = "file", contained: bool = True) -> Path:
    """root/name, checked before memscope opens it: absent, or a regular file (kind="file") or a directory
    (kind="dir"); never a FIFO, socket or device (opening one can block forever), and, with contained, never
    a symbolic link leading to nothing or out of root. The one place every file of a run directory or a
    sweep store is checked (readers and writers below call it). Returns the path; absence is the caller's
    to judge. Raises MemscopeError naming the entry and what to do."""
    root = Path(root)
    path = root / name if name is not None else root
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return path
    except OSError as e:
        raise MemscopeError(f"cannot read {escape(path)} ({e.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        try:
            target = path.resolve(strict=True)
            st = os.stat(path)
        except (OSError, RuntimeError):
            raise MemscopeError(f"{escape(path)} is a link to nothing ({escape(os.readlink(path))}): remove it") from None
        if contained and name is not None and not target.is_relative_to(root.resolve()):
            raise MemscopeError(f"{escape(path)} is a link leading out of {escape(root)} (to {escape(target)}): "
                                "memscope reads and writes only inside it; remove the link")
    if kind == "dir" and not stat.S_ISDIR(st.st_mode):
        raise MemscopeError(f"{escape(path)} is not a directory: remove it or move it aside")
    if kind != "dir" and not stat.S_ISREG(st.st_mode):
        raise MemscopeError(f"{escape(path)} is {_kind(st.st_mode)}, not a regular file: remove it or move it aside")
    return path


def _open_regular(path: Path, flags: int, what: str) -> int:
    """os.open without following a link and without blocking (a FIFO opened for writing waits for a reader
    forever): the descriptor of a regular file, else a one-line error."""
    safe_path(path.parent, path.name)  # the plain message for what is there now; the flags guard the race
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as e:
        raise MemscopeError(f"cannot open {what} {escape(path)}: it is a link, a special file or unwritable "
                            f"({e.strerror}); remove it") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise MemscopeError(f"cannot open {what} {escape(path)}: it is {_kind(mode)}; remove it")
    os.set_blocking(fd, True)
    return fd


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target (a link or special
    file at the target is replaced, never followed or opened; a directory there is refused)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise MemscopeError(f"cannot write {escape(path)}: a directory is in the way; move it aside")
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
    file outside the run directory, and without blocking: a FIFO there is refused at once."""
    path = Path(run_dir) / LOCK
    try:
        fd = _open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, "lock file")
    except MemscopeError as e:
        raise MemscopeError(f"cannot lock {escape(run_dir)}: {e}") from None
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


def _entry(path: Path, root: Path | None) -> Path:
    """safe_path for a path given whole: inside root when given (links may not leave it), else only its
    type is checked (links followed: a user's own file may live anywhere)."""
    path = Path(path)
    if root is None:
        return safe_path(path.parent, path.name, contained=False)
    return safe_path(root, path.relative_to(root))


def read_json(path: Path, what: str, root: Path | None = None, hint: str | None = None) -> dict:
    """A JSON object from a file; root: the run directory or store that must hold it (see safe_path);
    hint: what to do, added to the message when the file is missing or damaged."""
    path = Path(path)
    todo = f"; {hint}" if hint else ""
    _entry(path, root)
    if not path.is_file():
        raise MemscopeError(f"missing {what}: {escape(path)}{todo}")
    try:
        obj = loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        reason = str(e).splitlines()[0][:120] if str(e).strip() else e.__class__.__name__
        raise MemscopeError(f"corrupt {what}: {escape(path)} ({reason}){todo}") from None
    if not isinstance(obj, dict):
        raise MemscopeError(f"corrupt {what}: {escape(path)} (not a JSON object){todo}")
    return obj


_SUMMARY_KEYS = {"task": str, "model": str, "steps": int, "steps_run": int, "n_evals": int}


def read_summary(run_dir: Path, hint: str = "remove it and resume the run (a sweep: rerun it) to rewrite it "
                                            "from the run's last checkpoint") -> dict:
    """RUN_DIR/summary.json, checked to be a run's summary (an empty object is damage, not a summary)."""
    run_dir = Path(run_dir)
    path = run_dir / SUMMARY
    summary = read_json(path, "summary", root=run_dir, hint=hint)
    for key, kind in _SUMMARY_KEYS.items():
        value = summary.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            raise MemscopeError(f"corrupt summary: {escape(path)} ({key} is "
                                f"{'missing' if key not in summary else type(value).__name__}); {hint}")
    return summary


def read_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file's non-blank lines, split on newlines only (a JSON string
    may hold U+2028 and other characters that str.splitlines would break on); one-line errors."""
    path = _entry(Path(path), None)
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
    """The tensors and JSON metadata of a safetensors file of a run (a link may not leave its folder)."""
    path = Path(path)
    safe_path(path.parent, path.name)
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
    """Evaluation records in order; a torn last line (a killed write) is dropped, as is any line that is not
    an evaluation record (no integer step). The file must be a run's own (see safe_path)."""
    path = Path(path)
    safe_path(path.parent, path.name)
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MemscopeError(f"cannot read the metrics log {escape(path)} ({e.__class__.__name__}): the run is "
                            "damaged; train it anew into another --out") from None
    records = []
    for line in text.split("\n"):
        try:
            rec = loads(line)
        except ValueError:
            continue
        step = rec.get("step") if isinstance(rec, dict) else None
        if isinstance(step, int) and not isinstance(step, bool) and (up_to_step is None or step <= up_to_step):
            records.append(rec)
    return records


def append_jsonl(path: Path, record: dict) -> None:
    path = Path(path)
    with os.fdopen(_open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, "log"), "a") as f:
        f.write(dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def rewrite_jsonl(path: Path, records: list[dict]) -> None:
    atomic_write_bytes(path, "".join(dumps(r) + "\n" for r in records).encode())
