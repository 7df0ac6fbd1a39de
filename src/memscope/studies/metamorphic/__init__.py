"""memscope reproduce metamorphic: the metamorphic method tested on models with known membership."""
from .recipe import Metamorphic  # noqa: F401 (importing the recipe registers the study)
