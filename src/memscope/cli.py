"""The `memscope` command: each subcommand parses, calls one library function, prints.

Exit status: 0 on success, 2 on bad input (one line on stderr), 1 on an internal error.
`--json` prints one JSON object on stdout and nothing else there; logs go to stderr.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from pathlib import Path

from .cliflags import (RUN_FLAG_PREFIXES, command_settings, given_settings, in_flag_terms, run_settings_flags,
                       settings_flags, task_settings_in_help)
from .errors import MemscopeError


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._derive: list = []
        """Hooks that add a command's flags when it is parsed or its help shown: they import the module of
        its settings dataclass (torch, for audit), which the other commands need not load."""

    def derive(self, hook) -> None:
        self._derive.append(hook)

    def _derived(self) -> None:
        while self._derive:
            self._derive.pop(0)(self)

    def parse_known_args(self, args=None, namespace=None):
        self._derived()
        return super().parse_known_args(args, namespace)

    def format_help(self):
        self._derived()
        return super().format_help()

    def error(self, message):  # one line, exit 2, no usage dump; main() adds the "memscope: error: "
        command = self.prog.removeprefix("memscope").strip()  # "train", "reproduce tbtt" or ""
        raise MemscopeError(f"{command}: {message}" if command else message)


def _int(text: str) -> int:
    """An int flag in ASCII digits (int() also takes other scripts' digits: '١٢' is 12)."""
    if not text.isascii():
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}")
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None


def _float(text: str) -> float:
    """A finite float flag in ASCII (float() takes 'nan', 'inf' and other scripts' digits)."""
    try:
        value = float(text) if text.isascii() else None
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _writable_out(flag: str, out: Path) -> None:
    """Refuse an output directory that cannot be made before any work: an existing file, a link to nothing,
    or a path whose nearest existing ancestor is a file or not writable."""
    from .errors import escape
    if out.is_symlink() and not out.exists():
        raise MemscopeError(f"{flag} {escape(out)} is a link to nothing ({escape(os.readlink(out))}): remove it or "
                            "choose another path")
    if out.exists() and not out.is_dir():
        raise MemscopeError(f"{flag} {escape(out)} is a file, not a directory")
    parent = out.absolute()
    while not parent.exists():
        if parent.is_symlink():
            raise MemscopeError(f"{flag} {escape(out)}: {escape(parent)} is a link to nothing")
        parent = parent.parent
    if not parent.is_dir():
        raise MemscopeError(f"{flag} {escape(out)}: {escape(parent)} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise MemscopeError(f"{flag} {escape(out)}: {escape(parent)} is not writable")


def _overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MemscopeError(f"expected key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _run_config(args):
    from .runconfig import build_run_config, resumed_config
    own = getattr(args, "resume", False) and not (args.task or args.model or args.config)  # --resume RUN
    bare = [p for p in args.overrides if "=" not in p] if own else []
    overrides = _overrides([p for p in args.overrides if p not in bare])
    for dest, value in vars(args).items():  # --learning-rate 3e-3 is train.learning_rate=3e-3
        if dest.startswith(RUN_FLAG_PREFIXES) and value is not None:
            if dest in overrides:
                raise MemscopeError(f"setting {dest} is given twice ({overrides[dest]!r} and {value!r})")
            overrides[dest] = value
    if getattr(args, "config", None):
        if args.task or args.model:
            raise MemscopeError("--config names the task and model: drop --task and --model")
        from .runfile import load_run_file
        return load_run_file(Path(args.config), overrides)
    if own:  # the run's own settings (steps=N beyond them continues a finished run)
        args.out, rc = resumed_config(args.out, bare, overrides)
        return rc
    if not args.task or not args.model:
        raise MemscopeError("give --task and --model, or a run file with --config")
    return build_run_config(args.task, args.model, overrides)


def _finite(obj, path: str, replaced: dict):
    """obj with every NaN or infinite float replaced by None, each recorded in `replaced` by its path."""
    if isinstance(obj, float) and not math.isfinite(obj):
        replaced[path or "."] = "nan" if obj != obj else ("inf" if obj > 0 else "-inf")
        return None
    if isinstance(obj, dict):
        return {k: _finite(v, f"{path}.{k}" if path else str(k), replaced) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v, f"{path}[{i}]", replaced) for i, v in enumerate(obj)]
    return obj


def _strict_json(obj) -> str:
    """Strict JSON (no NaN or Infinity, which JSON does not have): a non-finite number is null, and the
    object's `non_finite` key names each such value's path and what it was ("inf", "-inf" or "nan")."""
    replaced: dict[str, str] = {}
    clean = _finite(obj, "", replaced)
    if replaced and isinstance(clean, dict):
        clean["non_finite"] = replaced
    return json.dumps(clean, allow_nan=False)


def _print(obj, as_json: bool, text: str) -> None:
    print(_strict_json(obj) if as_json else text)
    sys.stdout.flush()  # a closed pipe is found here, inside main, not at exit


def cmd_tasks(args) -> None:
    from .tasks import TASKS
    tasks = {name: cls() for name, cls in sorted(TASKS.items())}
    rows = {name: {"description": t.describe(), "params": t.params(), "block_size": t.block_size,
                   "batch_size": t.batch_size} for name, t in tasks.items()}
    text = "\n".join(f"{name:<12} {r['description']}  params: {r['params'] or '-'}" for name, r in rows.items())
    _print(rows, args.json, text)


def cmd_info(args) -> None:
    from .runs import describe
    info = describe(_run_config(args))
    text = (f"{info['task']} x {info['model']}: {info['n_params']:,} parameters (paper convention: "
            f"all but the position embedding), {info['n_params_total']:,} in total\n"
            f"vocabulary {info['vocab_size']} {info['vocab']!r}, block {info['block_size']}, "
            f"batch {info['batch_size']}, {info['n_lines']} lines / {info['n_chars']} characters")
    _print(info, args.json, text)


def cmd_train(args) -> None:
    from .train import train
    rc = _run_config(args)
    out = Path(args.out) if args.out else Path("runs") / f"{rc.task}-{rc.preset}-seed{rc.train.seed}"
    _writable_out("--out", out)
    from .runtime import check_runs
    check_runs([rc])  # the device, callbacks and phases, before the run directory is made
    summary = train(rc, out, resume=args.resume)
    _print(summary, args.json, _summary_text(summary, out))


def _summary_text(s: dict, out: Path) -> str:
    lines = [f"run: {out}", f"{s['task']} x {s['model']} ({s['n_params']:,} params), {s['steps']} steps "
             f"in {s['wall_s']:.1f} s on {s['device']}"]
    for key, value in s.items():
        if key.endswith("_acc") and not key.endswith("seen_acc") and isinstance(value, (int, float)):
            lines.append(f"  {key:<14} {100 * value:6.1f}%")
    for key, total in s.items():
        if key.endswith("withheld_total") and total:
            p = key[: -len("withheld_total")]
            first, stable = s[p + "first_withheld_step"], s[p + "withheld_perfect_from"]
            lines.append(f"  {p}withheld       {s[p + 'withheld_correct']}/{total}  (" + (
                f"{total}/{total} first at step {first}, at every evaluation from "
                f"{'none' if stable is None else stable})" if first is not None else f"never {total}/{total})"))
    return "\n".join(lines)


def cmd_eval(args) -> None:
    from .runs import eval_model
    m = eval_model(Path(args.run), args.task, _overrides(args.overrides), n_samples=args.samples,
                   seed=args.seed, which=args.weights, device=args.device)
    text = "\n".join(f"{k:<18} {v}" for k, v in m.items() if k != "withheld_by_prompt")
    _print(m, args.json, text)


def cmd_sample(args) -> None:
    from .runs import sample_run
    texts = sample_run(Path(args.run), args.prompt, n=args.n, max_new_tokens=args.max_new_tokens,
                       temperature=args.temperature, top_k=args.top_k, seed=args.seed,
                       which=args.weights, device=args.device)
    _print({"samples": texts}, args.json, "\n".join(json.dumps(t) for t in texts))


def cmd_bench(args) -> None:
    from .bench import format_bench, run_bench
    r = run_bench(device=args.device, threads=args.threads, steps=args.steps, compile=not args.no_compile)
    _print(r, args.json, format_bench(r))


def cmd_audit(args) -> None:
    from .audit import AuditSettings, audit, format_audit, write_audit
    settings = given_settings(AuditSettings, args, "audit")
    if args.out:
        _writable_out("--out", Path(args.out))
    result = audit(Path(args.target), Path(args.members), Path(args.nonmembers),
                   Path(args.reference) if args.reference else None,
                   Path(args.canaries) if args.canaries else None, settings)
    if args.out:
        result.summary["files"] = write_audit(result, Path(args.out))
    _print(result.summary, args.json, format_audit(result.summary))


def cmd_metamorphic(args) -> None:
    from .metamorphic import MetamorphicSettings, format_metamorphic, list_relations, metamorphic
    if args.list:
        rels = list_relations()
        _print(rels, args.json, "\n".join(f"{n:<16} {r['description']}  (applies to {', '.join(r['applies_to'])})"
                                          for n, r in rels.items()))
        return
    if not args.target:
        raise MemscopeError("metamorphic: --target is required (or --list)")
    settings = given_settings(MetamorphicSettings, args, "metamorphic")
    if args.out:
        _writable_out("--out", Path(args.out))
    names = [n.strip() for n in args.relations.split(",")] if args.relations is not None else None
    result = metamorphic(Path(args.target), Path(args.items) if args.items else None, names, settings)
    if args.out:
        from .metamorphic.report import write_metamorphic
        result.summary["files"] = write_metamorphic(result, Path(args.out))
    _print(result.summary, args.json, format_metamorphic(result.summary))


def cmd_sweep(args) -> None:
    from .sweep import SweepSettings, run_grid
    from .train.summary import brief
    settings = given_settings(SweepSettings, args, "sweep")
    _writable_out("--store", Path(args.store))
    r = run_grid(Path(args.grid), Path(args.store), settings)
    done = sum(1 for s in r["runs"].values() if s)
    text = "\n".join([f"sweep {r['name']}: {done} runs in {r['store']}"] + [
        f"  {name:<48} {brief(s)}  ({s['steps_run']} steps)" for name, s in r["runs"].items()])
    _print(r, args.json, text)


def cmd_reproduce(args) -> None:
    from .studies import COMMON_OPTIONS, get_study, list_studies
    if args.list:
        studies = {name: st.describe() for name, st in list_studies().items()}
        _print(studies, args.json, "\n".join(f"{name}: {d['description']}; profiles: {', '.join(d['profiles'])}"
                                             for name, d in studies.items()))
        return
    if args.study is None:
        raise MemscopeError("reproduce: name a study (see memscope reproduce --list)")
    study = get_study(args.study)
    opts = _study_parser(study.name, list_studies()).parse_args(args.rest)
    given = {k: v for k, v in vars(opts).items() if v is not None and k != "json"}
    for key in given:  # another study's option: one line naming whose it is
        if key not in study.options and key not in COMMON_OPTIONS:
            raise MemscopeError(f"--{key.replace('_', '-')} is not an option of study {study.name!r} "
                                f"(its own: {', '.join('--' + o for o in study.options) or 'none'})")
    _reproduce(study.name, given, args.json or opts.json)


def _study_parser(name: str, studies: dict) -> argparse.ArgumentParser:
    """The flags after `memscope reproduce STUDY`, derived from the settings dataclasses: the common ones
    (studies.StudyOptions), then every study's own options (so that one given to the wrong study is named
    as such rather than unknown)."""
    from .studies import StudyOptions
    st = studies[name]
    p = _Parser(prog=f"memscope reproduce {name}", description=f"{st.description}. Profiles: "
                f"{', '.join(st.profiles)}.")
    settings_flags(p, StudyOptions, title="options of every study")
    settings_flags(p, st.Options, title=f"options of study {name}")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    seen = {f for f in vars(p.parse_args([])) if f != "json"}
    for other in studies.values():  # the others' options, hidden: named as another study's when given
        if other.name != name:
            settings_flags(p, other.Options, hidden=True, skip=seen)
    return p


def _reproduce(name: str, options: dict, as_json: bool) -> None:
    """Run a study and print its result. Every option is parsed and checked by the study's settings
    (studies.Study.context) before the study plans, prints or writes anything."""
    from .studies import get_study
    study = get_study(name)
    ctx = study.context(**options)  # one-line errors for every option, nothing written yet
    if ctx.common.out is not None:
        _writable_out("--out", ctx.common.out)
    r = study.run_context(ctx)
    _print(r, as_json, study.text(r))


def cmd_runs(args) -> None:
    from .sweep import list_runs
    from .train.summary import brief
    rows = list_runs(Path(args.store))
    text = "\n".join(f"{r['status']:<8} {r['name']:<48} {r['config_hash']}  "
                     + (r["damage"] if r.get("damage") else brief(r["summary"] or {})) for r in rows) or "no runs"
    _print({"runs": rows}, args.json, text)


def cmd_capacity(args) -> None:  # a pure alias: `memscope capacity ARGS` is `memscope reproduce capacity ARGS`
    args.list, args.study = False, "capacity"
    cmd_reproduce(args)


def cmd_export(args) -> None:
    from .export import export_run
    r = export_run(Path(args.run), Path(args.out), args.format, args.weights)
    _print(r, args.json, f"exported {args.run} (step {r['step']}) as {r['architecture']} to {r['out']}")


def cmd_report(args) -> None:
    from .report_index import build_index, format_index
    r = build_index(Path(args.dir), Path(args.out) if args.out else None)
    _print(r, args.json, format_index(r))


def cmd_size(args) -> None:
    from .sizing import format_size, read_text, size_dataset
    r = size_dataset(text=read_text(Path(args.text)) if args.text is not None else None, bits=args.bits,
                     reference=Path(args.reference) if args.reference else None,
                     capacity=Path(args.capacity) if args.capacity else None, params=args.params,
                     tokens=args.tokens, device=args.device)
    _print(r, args.json, format_size(r))


class _Version(argparse.Action):
    """--version: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version
        try:
            text = version("memscope")
        except PackageNotFoundError:
            text = "unknown (not installed)"
        print(f"memscope {text}")
        parser.exit()


def _train_default(name: str):
    """A TrainConfig default, for the help of flags that fall back to it (stated once, in the dataclass)."""
    from .config import TrainConfig
    return TrainConfig.__dataclass_fields__[name].default


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="memscope", description="How much did a transformer memorize, how much generalize?")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    p.add_argument("--version", action=_Version, help="print the installed version of memscope and exit")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("tasks", help="list tasks and their parameters")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_tasks)

    def run_args(s):
        s.add_argument("--task", help="task name (see `memscope tasks`)")
        s.add_argument("--model", help="preset: n14, n28, n56, mlt")
        s.add_argument("--config", help="run file (TOML/JSON: task or phases, model, seed, [settings]) "
                                        "instead of --task and --model")
        s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        s.add_argument("overrides", nargs="*", metavar="key=value",
                       help="any task, model or train setting, e.g. learning_rate=3e-3 withheld=5,7;2,3 "
                            "(the model and training settings are listed below, each also a flag)")

    s = sub.add_parser("info", help="parameter counts, vocabulary and block of a task x model")
    run_args(s)
    run_settings_flags(s)
    task_settings_in_help(s)
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("train", help="train one model with the paper's protocol")
    run_args(s)
    s.add_argument("--out", help="run directory (default runs/TASK-MODEL-seedS)")
    s.add_argument("--resume", action="store_true", help="continue the run in --out (or --resume RUN) from its "
                   "checkpoint; a finished run given more --steps continues as a new phase (see --continue-lr)")
    run_settings_flags(s)
    task_settings_in_help(s)
    s.set_defaults(func=cmd_train)

    def saved_run_args(s):
        s.add_argument("run", help="run directory (eval: or a Hugging Face model directory)")
        s.add_argument("--weights", default="final", choices=["final", "best", "checkpoint"])
        s.add_argument("--device", default=_train_default("device"), help="auto, cpu, cuda, cuda:N or mps "
                                                                           "(default %(default)s)")
        s.add_argument("--json", action="store_true")

    s = sub.add_parser("eval", help="a task's evaluation protocol on a saved run or a Hugging Face model")
    saved_run_args(s)
    s.add_argument("--task", help="task to evaluate on (required for a Hugging Face model; default: the run's)")
    s.add_argument("--samples", type=_int, help=f"samples per prompt (default: the run's eval_samples, else "
                                                f"{_train_default('eval_samples')})")
    s.add_argument("--seed", type=_int, help=f"seed of the sampling generator (default: the run's, else "
                                             f"{_train_default('seed')})")
    s.add_argument("overrides", nargs="*", metavar="key=value", help="task settings, e.g. withheld=2,3")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("sample", help="sample continuations of a prompt from a saved run")
    saved_run_args(s)
    s.add_argument("--prompt", required=True, help="text to continue")
    s.add_argument("--n", type=_int, default=1, help="continuations to sample (default %(default)s)")
    s.add_argument("--max-new-tokens", type=_int, help="tokens to sample (default: the longest answer of the "
                                                       "run's task)")
    s.add_argument("--temperature", type=_float, help="sampling temperature (default: the run's, as in its "
                                                      "evaluation)")
    s.add_argument("--top-k", type=_int, help="keep the k most likely tokens (default: the run's)")
    s.add_argument("--seed", type=_int, default=0, help="seed of the sampling generator (default %(default)s)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("sweep", help="train a grid of runs (TOML/JSON), as ensembles, resumably")
    s.add_argument("grid", help="grid file, .toml or .json (see memscope.sweep)")
    s.add_argument("--store", default="runs/sweep", help="directory of the runs and their index")
    command_settings(s, "memscope.sweep", "SweepSettings")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sweep)

    s = sub.add_parser("reproduce", help="reproduce a paper's tables and figures (see --list)",
                       description="memscope reproduce STUDY [--profile P] [--seeds N] [--out DIR] [--executor E] "
                                   "[--workers W] [--address A] [study options] [--json]; "
                                   "`memscope reproduce STUDY --help` lists a study's options")
    s.add_argument("--list", action="store_true", help="list the studies, their profiles and options")
    s.add_argument("--json", action="store_true")
    s.add_argument("study", nargs="?", help="the study to run (memscope reproduce --list names them)")
    s.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_reproduce)

    s = sub.add_parser("runs", help="list the runs of a store and their status")
    s.add_argument("--store", default="runs/sweep")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_runs)

    s = sub.add_parser("bench", help="speed figures on this machine (docs/BENCHMARKS.md)")
    s.add_argument("--device", default="auto")
    s.add_argument("--threads", type=_int, default=1, help="torch CPU threads (default 1)")
    s.add_argument("--steps", type=_int, default=50, help="timed steps per model (mlt: a tenth on CPU)")
    s.add_argument("--no-compile", action="store_true", help="skip the torch.compile'd n14 row")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("audit", help="which samples a model memorized: bits, membership, extraction, canaries")
    s.add_argument("--target", required=True, help="memscope run or Hugging Face causal-LM directory")
    s.add_argument("--reference", help="a model trained without the members "
                                       "(default: uniform over the samples' alphabet)")
    s.add_argument("--members", required=True, help="training samples: one per line, or JSONL with \"text\"")
    s.add_argument("--nonmembers", required=True, help="held-out samples of the same kind")
    s.add_argument("--canaries", help="JSONL canaries: {\"text\": \"pin 0177\", \"format\": \"pin {dddd}\"}")
    s.add_argument("--out", help="directory for audit.json, samples.jsonl and report.html")
    command_settings(s, "memscope.audit", "AuditSettings")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_audit)

    s = sub.add_parser("metamorphic", help="rewrites with a known effect on the answer: computed or recalled?")
    s.add_argument("--target", help="memscope run or Hugging Face causal-LM directory")
    s.add_argument("--items", help="JSONL benchmark: multiple choice or paired items (default: the run's task)")
    s.add_argument("--relations", help="comma-separated relations (default: all that apply; see --list)")
    s.add_argument("--list", action="store_true", help="list the relations and what they apply to")
    s.add_argument("--out", help="directory for results.json, items.jsonl and report.html")
    command_settings(s, "memscope.metamorphic", "MetamorphicSettings")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_metamorphic)

    s = sub.add_parser("capacity", add_help=False, prefix_chars="\0",
                       help="alias of `memscope reproduce capacity` (bits per parameter, Morris et al. 2025)")
    s.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_capacity, json=False)

    s = sub.add_parser("export", help="write a run as a Hugging Face directory (GPT-2, character tokenizer)")
    s.add_argument("run", help="a memscope run directory")
    s.add_argument("--format", default="hf", help="hf: a directory transformers loads with AutoModelForCausalLM")
    s.add_argument("--out", required=True, help="the new directory to write")
    s.add_argument("--weights", default="final", help="final or best (as memscope eval)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("report", help="one index page over every study and audit result under a directory")
    s.add_argument("dir", help="directory searched for study results (tables.json, results.json) and audits")
    s.add_argument("--out", help="directory for index.html (default: DIR)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("size", help="information in a dataset and the model size that could memorize it")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="UTF-8 text file")
    src.add_argument("--bits", type=_float, help="information content in bits, given directly")
    s.add_argument("--reference", help="memscope run whose likelihood bounds the text's information")
    s.add_argument("--capacity", help="capacity results.json for bits per parameter "
                                      "(default: runs/capacity-{paper,quick}-fp32/results.json when its "
                                      "converged_share >= 0.9, else 3.6)")
    s.add_argument("--params", type=_int, help="also judge a model of this many parameters")
    s.add_argument("--tokens", type=_int, help="training tokens, with --bits (a text counts its characters)")
    s.add_argument("--device", default="auto")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_size)
    return p


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, but key=value settings may also follow the options (`eval RUN --task T withheld=2,3`):
    argparse fills a positional list once, before the options, and would reject the later ones."""
    args, extra = parser.parse_known_args(argv)
    if extra and (not hasattr(args, "overrides") or any(a.startswith("-") or "=" not in a for a in extra)):
        flag = next((a.partition("=")[0] for a in extra if a.startswith("--")), None)
        near = ""
        if flag:  # a misspelt flag: the closest of the command's own
            from .settings import suggest
            sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
            command = sub.choices.get(getattr(args, "command", None)) if sub else None
            near = suggest(flag, [o for a in (command or parser)._actions if a.help != argparse.SUPPRESS
                                  for o in a.option_strings if o.startswith("--")])
        parser.error(f"unrecognized arguments: {' '.join(extra)}{near}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return args


def _error(message: str) -> None:
    """`memscope: error: ...` on one line of stderr (line breaks and control characters escaped)."""
    from .errors import one_line
    print(f"memscope: error: {one_line(message)}", file=sys.stderr)


def _closed_pipe() -> int:
    """stdout's reader went away (`memscope tasks | head -1`): exit quietly, as the Python documentation
    advises (stdout pointed at devnull so that the interpreter's final flush does not fail again)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (captured in tests)
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a command a closed pipe stopped


def main(argv: list[str] | None = None) -> int:
    try:
        parser = make_parser()
        args = _parse(parser, argv)
    except MemscopeError as e:
        _error(str(e))
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except BrokenPipeError:  # --help into a closed pipe
        return _closed_pipe()
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="%(message)s", force=True)
    try:
        args.func(args)
    except MemscopeError as e:
        _error(in_flag_terms(e, parser, args))
        return 2
    except SystemExit as e:  # --help of a second-stage parser (memscope reproduce STUDY --help)
        return int(e.code or 0)
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        print("memscope: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
