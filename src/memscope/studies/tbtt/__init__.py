"""Too Big to Think (Barron & White 2025): recipe.py (grid, the study), tables.py, report.py."""
from .recipe import Tbtt  # noqa: F401 (importing the recipe registers the study)
