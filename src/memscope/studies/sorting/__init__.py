"""Sorting: algorithm or memory? recipe.py (grid, the study), measure.py (scoring), tables.py (analysis,
claims), report.py."""
from .recipe import SortingStudy  # noqa: F401 (importing the recipe registers the study)
