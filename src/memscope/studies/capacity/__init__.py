"""Capacity in bits per parameter (Morris et al. 2025): recipe.py (grid, stages, the study), analysis.py
(measures, fit, claims), report.py."""
from .recipe import Capacity  # noqa: F401 (importing the recipe registers the study)
