"""The trainer: one run or a group of runs trained together, with callbacks, samplers and phases."""
from .loop import RunConfig, build_run_config, group_key, load_run_config, train, train_group  # noqa: F401
