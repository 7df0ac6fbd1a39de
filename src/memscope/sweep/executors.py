"""Executors of a sweep's jobs: local (this process), pool (worker processes), ray (a cluster).

Each yields (job, summaries or the exception the job raised), as jobs finish.
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import socket
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from ..errors import MemscopeError
from ..runconfig import RunConfig
from ..train import train_group
from .settings import EXECUTORS

log = logging.getLogger("memscope.sweep")

RAY_CONNECT_S = 30.0
"""Seconds to wait for a Ray cluster at --address before giving up (Ray itself retries without end)."""


def train_group_job(group: list[tuple[str, dict]], root: str) -> dict[str, dict]:
    """Train one group (names and config dicts: plain data, so it crosses process and Ray boundaries)."""
    rcs = [RunConfig.from_dict(d) for _, d in group]
    ensemble_file = Path(root) / "ensembles" / f"{group[0][0]}-k{len(group)}.safetensors" if len(group) > 1 else None
    summaries = train_group(rcs, [Path(root) / name for name, _ in group], resume=True, ensemble_file=ensemble_file)
    return {name: s for (name, _), s in zip(group, summaries)}




def _submit_local(jobs, root, workers, address):
    for job in jobs:
        try:
            result = train_group_job(job, str(root))
        except Exception as e:  # as the pool and Ray executors: any job's failure is recorded, not raised
            log.debug("sweep: group %s failed", job[0][0], exc_info=True)
            result = e
        yield job, result


def _exit_with_parent(parent_pid: int) -> None:
    """Pool worker initializer: end this worker when the sweep that started it dies (even by SIGKILL), so a
    rerun never races an orphan for the same runs."""
    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _submit_pool(jobs, root, workers, address):
    # spawn: a fresh interpreter per worker (no forked torch thread pools); one torch thread each (config).
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_exit_with_parent,
                             initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(train_group_job, job, str(root)): job for job in jobs}
        for f in as_completed(futures):
            yield futures[f], (f.exception() or f.result())


def within(fn, timeout_s: float, message: str):
    """fn() in a daemon thread; MemscopeError(message) if it has not returned after timeout_s (the thread is
    left behind: what it waits on, as Ray's connection retries, cannot be interrupted)."""
    out: dict = {}

    def call():
        try:
            out["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            out["error"] = e
    thread = threading.Thread(target=call, daemon=True, name="memscope-deadline")
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise MemscopeError(message)
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a `host:port` or `ray://host:port` address; None for `auto` and the like."""
    m = re.fullmatch(r"(?:ray://)?\[?([^\[\]/]+?)\]?:(\d+)/?", address)
    return (m.group(1), int(m.group(2))) if m else None


def _ray_token_for_local_instance() -> None:
    """Ray (2.59 on) starts a local instance with token authentication and keeps the token in
    ~/.ray/auth_token, unless RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH names one (Ray's token sources, in its
    order of precedence). Where that default file cannot be written (no home directory, a read-only one),
    the instance this process starts gets a fresh token through RAY_AUTH_TOKEN instead: authentication stays
    on, and Ray's own processes, started from this one, inherit it."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no home directory to be found
        home = None
    token_file = home / ".ray" / "auth_token" if home is not None else None
    if token_file is not None and token_file.is_file():
        return
    parent = token_file.parent if token_file is not None else None
    while parent is not None and not parent.exists():
        parent = parent.parent if parent != parent.parent else None
    if parent is not None and parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return
    import secrets
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)


def _ray_connect(ray, address: str | None, workers: int, timeout_s: float = RAY_CONNECT_S) -> None:
    """ray.init on a local instance, or on the cluster at address within timeout_s seconds: Ray alone retries
    an address that does not answer for ever. A failure to start is one line saying what to set."""
    if not address:
        _ray_token_for_local_instance()
        try:
            ray.init(log_to_driver=False, num_cpus=workers, include_dashboard=False)
        except Exception as e:  # Ray raises many kinds (OSError from its token file, RuntimeError, ...)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise MemscopeError(f"could not start a local Ray instance ({type(e).__name__}: {first}); Ray keeps "
                                "its token in ~/.ray/auth_token: set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH, or "
                                "run with a writable HOME", param="executor") from None
        return
    where = _host_port(address)
    if where:  # an unknown host or a closed port fails at once, without Ray's retries
        try:
            socket.create_connection(where, timeout=min(timeout_s, 10.0)).close()
        except OSError as e:
            raise MemscopeError(f"no Ray cluster at address={address} ({e})", param="address") from None
    within(lambda: ray.init(address=address, log_to_driver=False), timeout_s,
           f"no Ray cluster answered at address={address} within {timeout_s:.0f} s")


@contextlib.contextmanager
def session(executor: str, workers: int, address: str | None):
    """What an executor needs for a whole sweep, set up before the store is written: for ray, the
    connection (a local instance started here is shut down at the end); nothing for the others."""
    if executor != "ray":
        yield
        return
    try:
        import ray
    except ImportError:
        raise MemscopeError("executor=ray needs Ray: pip install 'memscope[ray]'", param="executor") from None
    started = not ray.is_initialized()
    if started:
        _ray_connect(ray, address, workers)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def _submit_ray(jobs, root, workers, address):
    import ray
    with session("ray", workers, address):  # already connected when the sweep opened its session
        remote = ray.remote(num_cpus=1, max_retries=0)(train_group_job)
        pending = {remote.remote(job, str(root.resolve())): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                yield job, ray.get(done[0])
            except Exception as e:  # RayTaskError wraps the job's own exception
                yield job, getattr(e, "cause", None) or e


SUBMIT = {"local": _submit_local, "pool": _submit_pool, "ray": _submit_ray}


def check_executor(executor: str) -> None:
    if executor not in EXECUTORS:
        raise MemscopeError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise MemscopeError("executor=ray needs Ray: pip install 'memscope[ray]'", param="executor")
