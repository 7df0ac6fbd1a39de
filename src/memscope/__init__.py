"""memscope: how much did a transformer memorize, and how much did it generalize?

The Python API is the set of functions the command line calls, importable from here; each is imported on
first use (PEP 562), so `import memscope` loads neither torch nor any other submodule:

    import memscope
    run = memscope.train(task="arithmetic", model="n14", steps=40, out="runs/demo")
    run.to_frame()   # one row per evaluation (pandas)

`train`, `evaluate` and `audit` share their names with submodules; as attributes of the package they are
always the functions. The submodules stay importable by their dotted names (`from memscope.train import
RunConfig`, `import memscope.audit.core`).
"""
from __future__ import annotations

import importlib
import sys
import types

try:
    from importlib.metadata import version as _version
    __version__ = _version("memscope")
except Exception:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

_API = {  # name -> the module that defines it
    "RunConfig": "memscope.train",
    "build_run_config": "memscope.train",
    "train": "memscope.api",
    "train_group": "memscope.train",
    "load_lm": "memscope.models.load",
    "evaluate": "memscope.evaluate",
    "eval_run": "memscope.runs",
    "audit": "memscope.api",
    "metamorphic": "memscope.metamorphic",
    "reproduce": "memscope.api",
    "Result": "memscope.results",
    "ModelConfig": "memscope.config",
    "TrainConfig": "memscope.config",
    "AuditSettings": "memscope.audit",
    "MemscopeError": "memscope.errors",
    "ConfigError": "memscope.errors",
    "run_grid": "memscope.sweep",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # cached: __getattr__ runs once per name
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # Importing the submodule memscope.train (or .evaluate, .audit) sets it as an attribute of this
        # package, which would shadow the API function of the same name: keep the function.
        if name in _API and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
