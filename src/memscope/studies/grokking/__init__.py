"""Grokking (Power et al. 2022; Nanda et al. 2023): recipe.py (grid, the study), tables.py, report.py."""
from .recipe import Grokking  # noqa: F401 (importing the recipe registers the study)
