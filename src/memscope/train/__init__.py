"""The trainer: one run or a group of runs trained together, with callbacks, samplers and phases."""
from ..runconfig import RunConfig, build_run_config, load_run_config
from .loop import group_key, train, train_group

__all__ = ["RunConfig", "build_run_config", "group_key", "load_run_config", "train", "train_group"]
