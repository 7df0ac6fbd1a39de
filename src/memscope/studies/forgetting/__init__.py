"""Exposure and forgetting (seed 003): `memscope reproduce forgetting`."""
from .recipe import Forgetting  # noqa: F401 (importing the recipe registers the study)
