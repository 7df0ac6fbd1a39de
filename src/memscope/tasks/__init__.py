"""Tasks behind a registry; importing this package registers every built-in task."""
from .base import TASKS, Prompt, Suite, Task, get_task_class, make_task, register_task
from . import arithmetic, canaries, capitals, combined, random_tokens  # noqa: F401  (registration)
from . import facts, modular, sorting  # noqa: F401  (registration)
from . import choice  # noqa: F401  (registration)

__all__ = ["TASKS", "Prompt", "Suite", "Task", "get_task_class", "make_task", "register_task"]
