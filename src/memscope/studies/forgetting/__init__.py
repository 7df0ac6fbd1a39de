"""Exposure and forgetting (seed 003): `memscope reproduce forgetting`."""
from . import recipe  # noqa: F401  (registers the study)
