"""Capacity in bits per parameter (Morris et al. 2025): recipe.py (grid, measures, fit), report.py."""
from .recipe import reproduce  # noqa: F401 (importing the recipe registers the study)
