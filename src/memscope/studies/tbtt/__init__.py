"""Too Big to Think (Barron & White 2025): recipe.py (grid, reproduce), tables.py, report.py."""
from .recipe import reproduce  # noqa: F401 (importing the recipe registers the study)
