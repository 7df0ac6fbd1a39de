"""How a multiple-choice item reads when its options are part of the question (MMLU's layout).

One function renders the options into a question, used both by the `choice` training task (tasks/choice.py)
and by metamorphic scoring (metamorphic/core.py), so a rewrite of the options changes what the model reads
exactly as training wrote it. A neutral module: tasks must not import metamorphic (which imports tasks).
"""
from __future__ import annotations

NOTA = "None of the other answers"
"""The option the nota rewrites put in (arXiv 2502.12896's wording)."""
CHOICES_MARKER = "{choices}"
"""Where a question shows its options; a question without it is scored as given (options not shown)."""


def render_choices(choices) -> str:
    """`(o1|o2|o3)`: the options in order, as the model reads them."""
    return "(" + "|".join(choices) + ")"


def render_question(question: str, choices) -> str:
    """The question with every CHOICES_MARKER replaced by the rendered options (unchanged without one)."""
    return question.replace(CHOICES_MARKER, render_choices(choices)) if CHOICES_MARKER in question else question
