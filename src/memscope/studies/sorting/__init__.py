"""Sorting: algorithm or memory? recipe.py (grid, runs, scoring), tables.py (analysis, claims), report.py."""
from .recipe import reproduce  # noqa: F401 (importing the recipe registers the study)
