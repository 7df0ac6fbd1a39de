"""The command line's settings flags, derived from the settings dataclasses (memscope.settings): a flag per
field, its help the field's doc, range, choices or pattern and default; each value stays text until the
dataclass parses and checks it. Used by memscope.cli."""
from __future__ import annotations

import argparse
import dataclasses
import importlib

from .errors import MemscopeError


def settings_flags(p: argparse.ArgumentParser, cls, *, title: str | None = None, hidden: bool = False,
                   skip: set[str] | None = None) -> None:
    """One flag per field of a settings dataclass, its help read from the field (doc, default, range); every
    value arrives as text and is parsed and checked by the dataclass (memscope.settings), never here.
    skip: field names that already have a flag (left out here, and the new ones added to it)."""
    from .settings import describe
    group = p.add_argument_group(title) if title else p
    for f in describe(cls):
        if skip is not None:
            if f.name in skip:
                continue
            skip.add(f.name)
        allowed = f" {f.allowed}" if f.allowed else ""
        default = "" if f.default is None else f" (default {f.default})"
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, metavar=f.type_name.upper().replace(" ", ""),
                           help=argparse.SUPPRESS if hidden else f"{f.doc}{allowed}{default}".strip())


RUN_FLAG_PREFIXES = ("model.", "train.")
"""The dests of the flags derived from ModelConfig and TrainConfig (`--n-layer` -> model.n_layer)."""


def run_settings_flags(s: argparse.ArgumentParser) -> None:
    """A flag per ModelConfig and TrainConfig field, in two groups, its help read from the field (doc, range
    or choices, default). `--learning-rate 3e-3`, `--learning_rate 3e-3` and `learning_rate=3e-3` are one
    override: the value stays text and the dataclass parses and checks it (memscope.settings), never here."""
    from .config import PRESETS, ModelConfig, TrainConfig
    by_preset = {kind: sorted({k for p in PRESETS.values() for k in getattr(p, kind)}) for kind in ("model", "train")}
    for prefix, cls, title in (("model", ModelConfig, "model settings"), ("train", TrainConfig, "training settings")):
        group = s.add_argument_group(title, f"Each also as key=value ({prefix}.key=value where a name is ambiguous). "
                                            f"Defaults are {cls.__name__}'s; the --model preset sets "
                                            f"{', '.join(by_preset[prefix])}.")
        field_flags(group, cls, f"{prefix}.")


def field_flags(group, cls, dest_prefix: str = "") -> None:
    """A flag per field of a settings dataclass (`--prefix-tokens`, also `--prefix_tokens`), its help the
    field's doc, range, choices or pattern and default (settings.help_text). Its value stays text (None when
    not given), for the dataclass to parse and check, never here."""
    from .settings import describe, help_text, metavar
    for f in describe(cls):
        kwargs = dict(dest=f"{dest_prefix}{f.name}", metavar=metavar(f))
        if f.type is bool:  # --compile alone means true
            kwargs.update(nargs="?", const="true")
        group.add_argument(f"--{f.name.replace('_', '-')}", help=help_text(f).replace("%", "%%"), **kwargs)
        if "_" in f.name:
            group.add_argument(f"--{f.name}", help=argparse.SUPPRESS, **kwargs)


def command_settings(s, module: str, name: str) -> None:
    """audit, metamorphic, sweep: the command's settings as flags, derived from its settings dataclass
    (module:name) when the command is parsed or its help shown."""
    def add(parser):
        cls = getattr(importlib.import_module(module), name)
        field_flags(parser.add_argument_group(f"{parser.prog.removeprefix('memscope ')} settings",
                                               f"The fields of {name}, with their defaults."), cls)
    s.derive(add)


def given_settings(cls, args, what: str):
    """The settings dataclass from the flags given (the others keep the dataclass's defaults), parsed and
    checked by it (settings.from_mapping)."""
    from .settings import from_mapping
    return from_mapping(cls, {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
                              if getattr(args, f.name, None) is not None}, what)


def task_settings_in_help(s: argparse.ArgumentParser) -> None:
    """train and info: the help ends with every task's settings, read when the help is asked for (tasks
    import torch)."""
    plain = s.format_help

    def format_help():
        if not any(g.title == "task settings" for g in s._action_groups):
            from .settings import describe, format_default
            from .tasks import TASKS
            lines = [f"{name}: " + ", ".join(f"{f.name}={format_default(f.default)}" for f in describe(cls))
                     for name, cls in sorted(TASKS.items())]
            s.add_argument_group("task settings", "As key=value, for the task given with --task (memscope tasks "
                                 "describes them): " + "; ".join(lines).replace("%", "%%"))
        return plain()

    s.format_help = format_help


_FLAG_OF_PARAM = {"which": "weights", "n_samples": "samples", "out_dir": "out"}
"""Library argument names whose flag is named otherwise."""


def in_flag_terms(e: MemscopeError, parser: argparse.ArgumentParser, args) -> str:
    """A library error names a Python argument (`n_samples=0 ...`); say it as the command's flag."""
    message, param = str(e), getattr(e, "param", None)
    if not param:
        return message
    dest = _FLAG_OF_PARAM.get(param, param)
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    command = sub.choices.get(getattr(args, "command", None)) if sub else None
    flags = [opt for a in (command._actions if command else []) if a.dest == dest for opt in a.option_strings]
    if not flags and getattr(args, "command", None) in ("reproduce", "capacity"):
        flags = [f"--{param.replace('_', '-')}"]  # a study's flags are derived from its settings' fields
    if not flags:
        return message
    flag = next((o for o in flags if o.startswith("--")), flags[-1])  # --prefix-tokens, not its alias
    if f"{param}=" in message:
        return message.replace(f"{param}=", f"{flag} ", 1)
    return message.replace(param, flag, 1)
