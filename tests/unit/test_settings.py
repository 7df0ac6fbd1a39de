"""Every setting stated once (memscope.settings): ranges and choices in the annotation, one validator, the
command line's flags and help derived from the dataclasses."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Annotated

import pytest

from memscope import cli as cli_module
from memscope import settings
from memscope.config import ModelConfig, TrainConfig
from memscope.errors import ConfigError
from memscope.settings import Choice, Range, from_mapping


@dataclass(frozen=True)
class _Toy:
    width: Annotated[int, Range(1, 8)] = 4
    """Width of the toy."""
    rate: Annotated[float, Range(0, 1, lo_open=True, hi_open=True)] = 0.5
    """A fraction strictly between 0 and 1."""
    mode: Annotated[str, Choice("fast", "slow")] = "fast"
    """How to run."""
    limit: Annotated[int | None, Range(0)] = None
    names: tuple[str, ...] = ("a", "b")

    def __post_init__(self):
        settings.validate(self)


def _help(capsys, monkeypatch, *argv) -> str:
    monkeypatch.setenv("COLUMNS", "2000")  # no wrapping: every help line whole
    assert cli_module.main([*argv, "--help"]) == 0
    return capsys.readouterr().out


def _flag_help(text: str, flag: str) -> str | None:
    """The help of one flag: its line and the more deeply indented lines under it."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"  {re.escape(flag)}( |$)", line):
            rest = [line]
            for more in lines[i + 1:]:
                if not more.startswith("   "):
                    break
                rest.append(more)
            return " ".join(" ".join(rest).split())
    return None


def _cli_source() -> str:
    """cli.py and cliflags.py, where the command line is built."""
    return "".join((Path(cli_module.__file__).parent / name).read_text() for name in ("cli.py", "cliflags.py"))


def _default_text(value) -> str:
    """How a default reads in the help, worked out here independently of settings.format_default."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}" if value >= 10_000 else str(value)
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


# ----------------------------------------------------------------------------- known answers
def test_range_known_answers():
    Range(1, 8).check("w", 1)
    Range(1, 8).check("w", 8)
    Range(1, 8).check("w", None)
    with pytest.raises(ConfigError, match=r"^w=0 must lie in \[1, 8\]$"):
        Range(1, 8).check("w", 0)
    with pytest.raises(ConfigError, match=r"^r=1\.0 must lie in \(0, 1\)$"):
        Range(0, 1, lo_open=True, hi_open=True).check("r", 1.0)
    assert Range(0).text() == "[0, inf)"
    assert Range(0, lo_open=True).text() == "(0, inf)"
    assert Range(1, 2 ** 20).text() == "[1, 1_048_576]"
    assert Range(hi=3).text() == "(-inf, 3]"


def test_choice_known_answers():
    Choice("fast", "slow").check("mode", "slow")
    Choice("fast", "slow").check("mode", ("fast", "slow"))
    with pytest.raises(ConfigError, match=r"^mode='slwo' must be one of fast, slow; did you mean 'slow'\?$"):
        Choice("fast", "slow").check("mode", "slwo")
    assert Choice("a", "b").text() == "{a, b}"


def test_validate_coerces_and_checks():
    toy = _Toy(width="3", rate="0.25", limit="none")
    assert (toy.width, toy.rate, toy.limit) == (3, 0.25, None)
    assert type(toy.width) is int
    with pytest.raises(ConfigError, match=r"^width=9 must lie in \[1, 8\]$") as e:
        _Toy(width=9)
    assert e.value.param == "width"
    with pytest.raises(ConfigError, match=r"^rate=0\.0 must lie in \(0, 1\)$"):
        _Toy(rate=0.0)
    with pytest.raises(ConfigError, match=r"^mode='medium' must be one of fast, slow"):
        _Toy(mode="medium")
    with pytest.raises(ConfigError, match=r"^limit=-1 must lie in \[0, inf\)$"):
        _Toy(limit=-1)
    with pytest.raises(ConfigError, match=r"^width='wide' is not a valid int$"):
        _Toy(width="wide")


def test_describe_reads_docs_defaults_and_declarations():
    info = {f.name: f for f in settings.describe(_Toy)}
    assert list(info) == ["width", "rate", "mode", "limit", "names"]
    assert info["width"].doc == "Width of the toy." and info["width"].default == 4
    assert info["width"].range == Range(1, 8) and info["width"].allowed == "[1, 8]"
    assert info["mode"].choice == Choice("fast", "slow") and info["mode"].allowed == "{fast, slow}"
    assert info["limit"].type == int | None and info["limit"].doc == ""
    assert info["names"].default == ("a", "b")


def test_from_mapping_parses_text_and_names_the_closest_key():
    assert settings.from_mapping(_Toy, {"width": "2", "names": "x,y"}, "toy") == _Toy(width=2, names=("x", "y"))
    with pytest.raises(ConfigError, match=r"unknown toy setting 'widht'.*did you mean 'width'\?"):
        settings.from_mapping(_Toy, {"widht": "2"}, "toy")
    with pytest.raises(ConfigError, match=r"did you mean 'learning_rate'\?"):
        from_mapping(TrainConfig, {"learning_rat": "1"}, "train")


def test_suggest():
    assert settings.suggest("lerning_rate", ["learning_rate", "min_lr"]) == "; did you mean 'learning_rate'?"
    assert settings.suggest("zzz", ["learning_rate", "min_lr"]) == ""


def test_config_ranges_are_declared_not_written_out():
    """Every numeric field of ModelConfig and TrainConfig has a declared range; every closed text field
    declares its choices."""
    for cls in (ModelConfig, TrainConfig):
        for f in settings.describe(cls):
            base = f.type if f.type in (int, float) else next(
                (a for a in getattr(f.type, "__args__", ()) if a in (int, float)), None)
            if base is not None:
                assert f.range is not None, f"{cls.__name__}.{f.name} has no Range"
            assert f.doc, f"{cls.__name__}.{f.name} has no doc"
    assert {f.name for f in settings.describe(TrainConfig) if f.choice} >= {"lr_schedule", "precision", "sampler"}


@pytest.mark.parametrize("kwargs, message", [
    ({"n_layer": 0}, r"^n_layer=0 must lie in \[1, 1024\]$"),
    ({"dropout": 1.0}, r"^dropout=1\.0 must lie in \[0, 1\)$"),
    ({"pos_encoding": "rope"}, r"^pos_encoding='rope' must be one of learned, none"),
    ({"n_embd": 15, "n_head": 2}, r"^n_embd=15 is not divisible by n_head=2$"),
])
def test_model_config_messages(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"learning_rate": 0.0}, r"^learning_rate=0\.0 must lie in \(0, 10\]$"),
    ({"sampler": "epoch"}, r"^sampler='epoch' must be one of windows, aligned, epochs; did you mean 'epochs'\?$"),
    ({"precision": "fp16"}, r"^precision='fp16' must be one of fp32, bf16"),
    ({"seed": -1}, r"^seed=-1 must lie in \[0, 9_223_372_036_854_775_807\]$"),
    ({"epochs": 3}, r"^epochs= sets the length of an epochs run: add sampler=epochs$"),
    ({"min_lr": 1.0}, r"^min_lr=1\.0 exceeds learning_rate=0\.01$"),
    ({"cooldown_steps": 10}, r"^cooldown_steps goes with lr_schedule=wsd$"),
    ({"best_metric": "withheld_acc"}, r"the withheld prompts never choose the checkpoint"),
    ({"device": "tpu"}, r"^device='tpu' must be auto, cpu, cuda, cuda:N or mps$"),
])
def test_train_config_messages(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


# ----------------------------------------------------------------------------- the command line
@pytest.mark.parametrize("command", ["train", "info"])
def test_help_lists_every_model_and_train_setting_with_its_default(capsys, monkeypatch, command):
    text = _help(capsys, monkeypatch, command)
    assert "model settings" in text and "training settings" in text and "task settings" in text
    for cls in (ModelConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            line = _flag_help(text, flag)
            assert line, f"{flag} missing from `memscope {command} --help`"
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            assert f"Default: {_default_text(default)}." in line, (flag, line)
            assert settings.field_docs(cls)[f.name][:40] in line, (flag, line)
    assert "Range [1, 1024]" in text and "One of cosine, wsd" in text


def test_cli_states_no_train_default(capsys):
    """The defaults live in TrainConfig: cli.py repeats none of the distinctive ones."""
    source = _cli_source()
    for f in dataclasses.fields(TrainConfig):
        if isinstance(f.default, int) and not isinstance(f.default, bool) and f.default >= 100:
            for text in (str(f.default), f"{f.default:_}", f"{f.default:,}"):
                assert not re.search(rf"(?<![\w.]){re.escape(text)}(?![\w.])", source), (f.name, text)
    assert "1337" not in source and "30_000" not in source and "882" not in source


@pytest.mark.parametrize("command, module, name", [
    ("audit", "memscope.audit", "AuditSettings"),
    ("metamorphic", "memscope.metamorphic", "MetamorphicSettings"),
    ("sweep", "memscope.sweep", "SweepSettings"),
])
def test_command_help_lists_every_setting_with_its_default(capsys, monkeypatch, command, module, name):
    """audit, metamorphic and sweep: a flag per field of the command's settings dataclass, its help the
    field's doc, range, choices or pattern and default, and cli.py states none of those defaults."""
    import importlib
    cls = getattr(importlib.import_module(module), name)
    text = _help(capsys, monkeypatch, command)
    assert f"{command} settings" in text
    for f in settings.describe(cls):
        flag = "--" + f.name.replace("_", "-")
        line = _flag_help(text, flag)
        assert line, f"{flag} missing from `memscope {command} --help`"
        assert f"Default: {_default_text(f.default)}." in line, (flag, line)
        assert f.doc and f.doc[:40] in line, (flag, line)
        if f.allowed:
            assert f.allowed.strip("[]{}()") in line or ", ".join(f.choice.values) in line, (flag, line)
    source = _cli_source()
    for f in dataclasses.fields(cls):
        if isinstance(f.default, int) and not isinstance(f.default, bool) and f.default >= 10:
            for literal in (str(f.default), f"{f.default:_}", f"{f.default:,}"):
                assert not re.search(rf"(?<![\w.]){re.escape(literal)}(?![\w.])", source), (f.name, literal)
    parser = cli_module.make_parser()
    sub = next(a for a in parser._actions if isinstance(a, cli_module.argparse._SubParsersAction))
    command_parser = sub.choices[command]
    command_parser.format_help()  # the settings' flags are added when first needed
    defaults = {a.dest: a.default for a in command_parser._actions}
    for f in dataclasses.fields(cls):  # the parser leaves every setting unset: the dataclass fills it in
        assert f.name in defaults and defaults[f.name] is None, (f.name, defaults.get(f.name))


def test_device_is_declared_once():
    """Every device setting is annotated with config.DEVICE: one pattern, one message."""
    from memscope.audit import AuditSettings
    from memscope.config import DEVICE, check_device_name
    from memscope.metamorphic import MetamorphicSettings
    from memscope.studies.capacity.recipe import CapacityOptions
    for cls in (TrainConfig, AuditSettings, MetamorphicSettings, CapacityOptions):
        (info,) = [f for f in settings.describe(cls) if f.name == "device"]
        assert info.pattern is DEVICE and info.default == "auto", cls
        for good in ("auto", "cpu", "cuda", "cuda:1", "mps"):
            cls(device=good)
        with pytest.raises(ConfigError, match=r"^device='cuda:x' must be auto, cpu, cuda, cuda:N or mps$"):
            cls(device="cuda:x")
    with pytest.raises(ConfigError, match=r"^device='tpu' must be auto, cpu, cuda, cuda:N or mps$") as e:
        check_device_name("tpu")
    assert e.value.param == "device"
    with pytest.raises(ConfigError, match="must be auto"):
        check_device_name(None)


def test_flag_and_key_value_are_one_override(cli_json):
    base = ("info", "--task", "arithmetic", "--model", "n14")
    by_key = cli_json(*base, "learning_rate=3e-3", "n_layer=2", "compile=true")["config"]
    by_flag = cli_json(*base, "--learning-rate", "3e-3", "--n-layer", "2", "--compile")["config"]
    by_underscore = cli_json(*base, "--learning_rate", "3e-3", "--n_layer", "2", "--compile", "true")["config"]
    assert by_key == by_flag == by_underscore
    assert by_flag["train"]["learning_rate"] == 3e-3 and by_flag["model"]["n_layer"] == 2
    assert by_flag["train"]["compile"] is True
    assert cli_json(*base)["config"]["train"]["learning_rate"] == 1e-2


@pytest.mark.parametrize("argv, needle", [
    (["--learning-rate", "3e-3", "learning_rate=1e-3"], "setting train.learning_rate is given twice"),
    (["--learning-rate", "0"], "learning_rate=0.0 must lie in (0, 10]"),
    (["--lerning-rate", "3e-3"], "did you mean '--learning-rate'?"),
    (["lerning_rate=3e-3"], "unknown setting 'lerning_rate'"),
    (["lerning_rate=3e-3"], "did you mean 'learning_rate'?"),
    (["train.lerning_rate=3e-3"], "did you mean 'train.learning_rate'?"),
    (["--sampler", "epoch"], "did you mean 'epochs'?"),
])
def test_bad_run_settings_are_one_line(cli, argv, needle):
    code, out, err = cli("info", "--task", "arithmetic", "--model", "n14", *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert needle in err, err


def test_version(cli):
    code, out, err = cli("--version")
    assert code == 0 and out.strip() == f"memscope {version('memscope')}"
