"""memscope reproduce metamorphic: the metamorphic method tested on models with known membership."""
from . import recipe  # noqa: F401  (registers the study)
