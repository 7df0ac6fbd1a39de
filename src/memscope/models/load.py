"""Load a model directory from disk: a memscope run's weights into a GPT, or either kind of directory (a
memscope run or a Hugging Face causal LM) into a LanguageModel.

Loading lives here, apart from lm.py, because reading a run needs the trainer's RunConfig: lm.py stays
importable by the trainer's evaluation without a cycle back into the trainer.
"""
from __future__ import annotations

from pathlib import Path

from .. import store
from ..errors import MemscopeError
from ..runtime import resolve_device
from ..tasks import Task
from ..runconfig import RunConfig, load_run_config
from .gpt import GPT
from ..vocab import BOS
from .lm import LanguageModel

WEIGHTS = {"final": store.MODEL, "best": store.BEST, "checkpoint": store.CHECKPOINT}
MEMSCOPE_RUN, HUGGING_FACE = "memscope run", "hugging face"


def load_model(run_dir: Path, which: str = "final", device: str = "auto") -> tuple[RunConfig, Task, GPT, int]:
    """The run's config, task and model with the chosen weights (in eval mode), and the step those weights
    are from.

    which: final (model.safetensors), best (chosen on non-withheld accuracy) or checkpoint (the last
    resume point, for a run still going or killed).
    """
    if which not in WEIGHTS:
        raise MemscopeError(f"unknown weights {which!r}; choose one of {', '.join(WEIGHTS)}")
    run_dir = Path(run_dir)
    rc = load_run_config(run_dir)
    task = rc.make_task()
    path = run_dir / WEIGHTS[which]
    if which == "final" and not path.is_file() and (run_dir / store.CHECKPOINT).is_file():
        raise MemscopeError(f"run {run_dir} has not finished (no {store.MODEL}); "
                            "resume it, or pass --weights checkpoint")
    tensors, meta = store.load_tensors(path, "weights file")
    if which == "checkpoint":
        tensors = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    model = GPT(rc.model)
    store.load_model_tensors(model, tensors, path)
    step = meta.get("step") if isinstance(meta, dict) else None
    if type(step) is not int or step < 0:  # type(): True is an int too
        raise MemscopeError(f"corrupt weights file: {path} (no step in its metadata)")
    return rc, task, model.to(resolve_device(device)).eval(), step


def model_kind(path: Path) -> str:
    """MEMSCOPE_RUN or HUGGING_FACE, told apart by the directory's config.json."""
    path = Path(path)
    if not path.is_dir():
        raise MemscopeError(f"no model directory at {path}")
    if not (path / "config.json").is_file():
        raise MemscopeError(f"{path} is not a model directory: no config.json "
                            "(expected a memscope run or a Hugging Face model)")
    return _kind_of(store.read_json(path / "config.json", "model config"), path)


def is_hugging_face(path: Path) -> bool:
    """True for a Hugging Face model directory. A missing or unreadable config.json says False, so that
    the memscope run loader names what is missing in a run's terms; a config of neither kind is an error."""
    try:
        config = store.read_json(Path(path) / "config.json", "model config")
    except MemscopeError:
        return False
    return _kind_of(config, Path(path)) == HUGGING_FACE


def _kind_of(config: dict, path: Path) -> str:
    if "task" in config and "train" in config:
        return MEMSCOPE_RUN
    if "model_type" in config:
        return HUGGING_FACE
    raise MemscopeError(f"{path} is neither a memscope run nor a Hugging Face model "
                        "(its config.json has neither 'task' nor 'model_type')")


def load_lm(path: Path, device: str = "auto", batch_size: int | None = None) -> LanguageModel:
    """A memscope run (its final weights) or a Hugging Face causal-LM directory. batch_size: sequences per
    scoring pass, by default 256 for a memscope run and 8 for a Hugging Face model (larger, longer)."""
    path = Path(path)
    if model_kind(path) == HUGGING_FACE:
        from .hf import load_hf  # imports transformers only when a Hugging Face model is asked for
        return load_hf(path, device, batch_size or 8)
    rc, _, model, _ = load_model(path, "final", device)
    vocab = rc.vocab()
    if BOS not in vocab.stoi:
        raise MemscopeError(f"run {path}: its vocabulary has no newline to serve as the BOS token")
    return LanguageModel.from_gpt(model, vocab, path=str(path), batch_size=batch_size or 256)
