"""Hostile input to every subcommand: one line on stderr (`memscope: error: ...`), exit status 2, no
traceback, nothing on stdout and nothing written.

The corpus is data: CASES below, one Case each (an id, the argv built from the prepared fixture directory F
and the case's own output path O, and optionally a needle the message must hold). Prepared inputs (a tiny
finished run, corrupt copies of it, grid/run/item files, a fake Hugging Face directory holding only a
pickle) live in one fixture directory made once per module and read-only by convention: every case checks
that it is unchanged. Outputs (`--out`, `--store`) point at O inside the case's own empty directory,
which is also the working directory (so a default like runs/... would land there too) and must stay empty.
Every case must fail at validation: nothing here trains, benchmarks or downloads. A case that does not
fail within ALARM_S seconds is reported as a timeout.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from memscope.cli import main

ALARM_S = 5
HAS_HF = importlib.util.find_spec("transformers") is not None
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

BIG = "99999999999"
HUGE = str(10 ** 20)
ARABIC = "١٢"  # Arabic-Indic digits: Python's int() reads them as 12; memscope must not
TINY = ["eval_interval=10", "batch_size=16", "eval_samples=1"]
SAFE = ["--steps", "2", "eval_interval=1", "batch_size=4", "eval_samples=1"]
"""Appended before each train case's own arguments: should validation miss, the run stays tiny."""

BASE_GRID = {"task": "arithmetic", "model": "n14", "seeds": 1,
             "settings": {"steps": 2, "eval_interval": 1, "batch_size": 4, "eval_samples": 1}}
BASE_TOML = """task = "arithmetic"
model = "n14"
seeds = 1
[settings]
steps = 2
eval_interval = 1
batch_size = 4
eval_samples = 1
"""
PHASES_TOML = """model = "n14"
seeds = [0]
[settings]
sampler = "epochs"
batch_size = 16
eval_interval = 1
eval_samples = 1
[[phases]]
name = "one"
epochs = 1
[[phases.tasks]]
task = "arithmetic"
[[phases]]
name = "two"
epochs = 1
restart = true
[[phases.tasks]]
task = "arithmetic"
withheld = "2,3"
[[phases.tasks]]
task = "arithmetic"
share = 0.25
"""
DEEP = "[" * 5000 + "]" * 5000


@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Path, Path], list]
    needle: str | None = None
    needs_permissions: bool = False
    """The case relies on a read-only directory, which root ignores: skipped as root."""


CASES: list[Case] = []


def case(id, argv, needle=None, needs_permissions=False):
    CASES.append(Case(id, argv, needle, needs_permissions))


def train(*args):
    return lambda F, O: ["train", "--task", "arithmetic", "--model", "n14", *SAFE, "--out", O, *args]


def sweep(grid, *args):
    return lambda F, O: ["sweep", F / "grids" / grid, "--store", O, *args]


def config(name, *args):
    return lambda F, O: ["train", "--config", F / "grids" / name, "--out", O, *args]


def audit(*args, members="members.txt", nonmembers="nonmembers.txt", target="run"):
    return lambda F, O: ["audit", "--target", F / target, "--members", F / "items" / members,
                         "--nonmembers", F / "items" / nonmembers, *[F / a[2:] if a.startswith("F:") else a
                                                                     for a in args]]


def reproduce(study, *args):
    """--profile tiny and --executor local unless the case says otherwise: should validation miss, the study
    stays in this process (the alarm can stop it) and small."""
    head = [] if "--profile" in args else ["--profile", "tiny"]
    head += [] if "--executor" in args else ["--executor", "local"]
    return lambda F, O: ["reproduce", study, *head, *args, *([] if "--out" in args else ["--out", O])]


def capacity(*args):
    head = [] if "--profile" in args else ["--profile", "tiny"]
    head += [] if "--executor" in args else ["--executor", "local"]
    return lambda F, O: ["capacity", *head, *args, *([] if "--out" in args else ["--out", O])]


# ---------------------------------------------------------------------------- the command line itself
case("no-command", lambda F, O: [], "command")
case("unknown-command", lambda F, O: ["frobnicate"], "frobnicate")
case("tasks-unknown-flag", lambda F, O: ["tasks", "--bogus"], "--bogus")
case("tasks-extra-positional", lambda F, O: ["tasks", "extra"], "extra")

# ---------------------------------------------------------------------------- info
case("info-unknown-task", lambda F, O: ["info", "--task", "algebra", "--model", "n14"], "unknown task 'algebra'")
case("info-unknown-preset", lambda F, O: ["info", "--task", "arithmetic", "--model", "n99"], "n99")
case("info-no-task", lambda F, O: ["info", "--model", "n14"], "--task")
case("info-config-and-task", lambda F, O: ["info", "--task", "arithmetic", "--config", F / "grids" / "ok.toml"],
     "--config")
case("info-setting-without-equals", lambda F, O: ["info", "--task", "arithmetic", "--model", "n14", "colour"])
case("info-setting-empty-key", lambda F, O: ["info", "--task", "arithmetic", "--model", "n14", "=5"], "key=value")
case("info-unknown-setting", lambda F, O: ["info", "--task", "arithmetic", "--model", "n14", "colour=red"],
     "unknown setting")
case("info-unknown-prefixed-setting", lambda F, O: ["info", "--task", "arithmetic", "--model", "n14", "model.colour=1"])
case("info-unknown-prefix", lambda F, O: ["info", "--task", "arithmetic", "--model", "n14", "optim.lr=1"])
case("info-n-embd-huge", lambda F, O: ["info", "--task", "arithmetic", "--model", "n14", f"n_embd={BIG}"])
case("info-n-layer-huge", lambda F, O: ["info", "--task", "arithmetic", "--model", "n14", f"n_layer={BIG}"])
case("info-block-size-huge", lambda F, O: ["info", "--task", "arithmetic", "--model", "n14", f"block_size={HUGE}"])
case("info-capitals-withheld", lambda F, O: ["info", "--task", "capitals", "--model", "n14", "withheld=5,7"],
     "unknown setting")
case("info-config-missing", lambda F, O: ["info", "--config", F / "grids" / "nowhere.toml"])

# ---------------------------------------------------------------------------- train: settings and flags
case("train-unknown-task", lambda F, O: ["train", "--task", "algebra", "--model", "n14", *SAFE, "--out", O],
     "unknown task")
case("train-unknown-preset", lambda F, O: ["train", "--task", "arithmetic", "--model", "n99", *SAFE, "--out", O])
case("train-unknown-setting", train("colour=red"), "unknown setting 'colour'")
case("train-steps-0", train("--steps", "0"), "steps")
case("train-steps-negative", train("--steps", "-5"), "steps")
case("train-steps-huge", train("--steps", HUGE), "steps")
case("train-steps-arabic-digits", train("--steps", ARABIC))
case("train-steps-nan-setting", train("steps=nan"), "steps")
case("train-seed-negative", train("--seed", "-1"), "seed")
case("train-seed-huge", train("--seed", HUGE), "seed")
case("train-seed-setting-huge", train(f"seed={HUGE}"), "seed")
case("train-seed-arabic-digits", train("--seed", ARABIC))
case("train-lr-nan", train("learning_rate=nan"), "learning_rate")
case("train-lr-inf", train("learning_rate=inf"), "learning_rate")
case("train-lr-minus-inf", train("learning_rate=-inf"), "learning_rate")
case("train-lr-1e309", train("learning_rate=1e309"), "learning_rate")
case("train-lr-negative", train("learning_rate=-0.1"), "learning_rate")
case("train-min-lr-nan", train("min_lr=nan"), "min_lr")
case("train-batch-size-0", train("batch_size=0"), "batch_size")
case("train-batch-size-negative", train("batch_size=-3"), "batch_size")
case("train-batch-size-huge", train(f"batch_size={BIG}"), "batch_size")
case("train-batch-size-float", train("batch_size=1e3"), "batch_size")
case("train-batch-size-arabic-digits", train(f"batch_size={ARABIC}"), "batch_size")
case("train-batch-size-empty", train("batch_size="), "batch_size")
case("train-n-embd-0", train("n_embd=0"), "n_embd")
case("train-n-embd-huge", train(f"n_embd={BIG}"), "n_embd")
case("train-n-embd-not-divisible", train("n_embd=15", "n_head=2"), "not divisible")
case("train-n-head-0", train("n_head=0"), "n_head")
case("train-n-layer-0", train("n_layer=0"), "n_layer")
case("train-n-layer-huge", train(f"n_layer={BIG}"), "n_layer")
case("train-block-size-0", train("block_size=0"), "block_size")
case("train-block-size-huge", train("block_size=2000"), "block_size")
case("train-dropout-above-1", train("dropout=1.5"), "dropout")
case("train-dropout-nan", train("dropout=nan"), "dropout")
case("train-beta1-above-1", train("beta1=1.5"), "beta1=1.5 must lie in [0, 1)")
case("train-beta2-nan", train("beta2=nan"), "beta2")
case("train-grad-clip-nan", train("grad_clip=nan"), "grad_clip")
case("train-grad-clip-negative", train("grad_clip=-1"), "grad_clip")
case("train-weight-decay-inf", train("weight_decay=inf"), "weight_decay")
case("train-temperature-nan", train("temperature=nan"), "temperature")
case("train-temperature-negative", train("temperature=-1"), "temperature")
case("train-top-k-0", train("top_k=0"), "top_k")
case("train-eval-interval-0", train("eval_interval=0"), "eval_interval")
case("train-eval-samples-0", train("eval_samples=0"), "eval_samples")
case("train-eval-samples-huge", train(f"eval_samples={BIG}"), "eval_samples")
case("train-warmup-negative", train("warmup_steps=-1"), "warmup_steps")
case("train-threads-0", train("threads=0"), "threads")
case("train-threads-huge", train(f"threads={HUGE}"), "threads")
case("train-stop-patience-negative", train("stop_patience=-1"), "stop_patience")
case("train-stop-rel-tol-nan", train("stop_rel_tol=nan"), "stop_rel_tol")
case("train-precision-fp8", train("precision=fp8"), "precision")
case("train-device-tpu", train("device=tpu"), "tpu")
case("train-device-empty", train("device="), "device")
case("train-device-cuda-negative", train("device=cuda:-1"), "device")
case("train-compile-maybe", train("compile=maybe"), "compile")
case("train-sampler-unknown", train("sampler=random"), "sampler")
case("train-callback-unknown", train("callbacks=protocol,no_such_monitor"), "no_such_monitor")
case("train-best-metric-withheld", train("best_metric=withheld_correct"), "best_metric")
case("train-best-metric-unknown", train("best_metric=nope"), "best_metric")
case("train-window-0", train("window=0"), "window")
case("train-window-longer-than-block", train("window=1000"), "window")
case("train-epochs-0", train("sampler=epochs", "epochs=0"), "epochs")
case("train-pos-encoding-unknown", train("pos_encoding=rotary"), "pos_encoding")
case("train-withheld-outside-digits", train("withheld=5,12"), "outside the digits")
case("train-withheld-letters", train("withheld=a,b"), "withheld")
case("train-withheld-arabic-digits", train("withheld=١,٢"), "withheld")
case("train-withheld-single", train("withheld=5"), "withheld")
case("train-digits-0", train("digits=0"), "digits")
case("train-digits-huge", train(f"digits={BIG}"), "digits")
case("train-operators-unknown", train("operators=*/"), "operators")
case("train-mask-prompt-maybe", train("mask_prompt=maybe"), "mask_prompt")
case("train-config-and-task", lambda F, O: ["train", "--config", F / "grids" / "ok.toml", "--task", "arithmetic",
                                             "--out", O], "--config")

# ---------------------------------------------------------------------------- train: where it writes
case("train-out-is-a-file", lambda F, O: ["train", "--task", "arithmetic", "--model", "n14", *SAFE,
                                          "--out", F / "a_file"])
case("train-out-under-a-file", lambda F, O: ["train", "--task", "arithmetic", "--model", "n14", *SAFE,
                                             "--out", F / "a_file" / "run"])
case("train-out-read-only-dir", lambda F, O: ["train", "--task", "arithmetic", "--model", "n14", *SAFE,
                                              "--out", F / "ro" / "run"], needs_permissions=True)
case("train-out-finished-run-without-resume",
     lambda F, O: ["train", "--task", "arithmetic", "--model", "n14", "--steps", "20", *TINY, "--out", F / "run"],
     "--resume")
case("train-resume-other-settings",
     lambda F, O: ["train", "--task", "arithmetic", "--model", "n14", "--steps", "20", *TINY, "learning_rate=0.005",
                   "--out", F / "run", "--resume"], "train.learning_rate")
case("train-resume-corrupt-checkpoint",
     lambda F, O: ["train", "--task", "arithmetic", "--model", "n14", "--steps", "20", *TINY,
                   "--out", F / "run_bad_checkpoint", "--resume"], "checkpoint")
case("train-resume-nan-config",
     lambda F, O: ["train", "--task", "arithmetic", "--model", "n14", "--steps", "20", *TINY,
                   "--out", F / "run_nan_lr", "--resume"])

# ---------------------------------------------------------------------------- train --config (run files)
case("config-missing", config("nowhere.toml"))
case("config-is-a-directory", lambda F, O: ["train", "--config", F / "grids", "--out", O])
case("config-empty-toml", config("empty.toml"))
case("config-malformed-toml", config("malformed.toml"))
case("config-malformed-json", config("malformed.json"))
case("config-not-utf8", config("binary.toml"))
case("config-deep-toml", config("deep.toml"))
case("config-deep-json", config("deep.json"))
case("config-deep-json-object", config("deep_object.json"))
case("config-duplicate-key-toml", config("duplicate.toml"))
case("config-duplicate-key-json", config("duplicate.json"), "duplicate")
case("config-duplicate-setting-json", config("duplicate_setting.json"), "duplicate")
case("config-long-digits-json", config("long_digits.json"))
case("config-unknown-key", config("unknown_key.toml"), "unknown key")
case("config-several-runs", config("two_models.toml"), "several runs")
case("config-settings-nan", config("settings_nan.toml"), "learning_rate")
case("config-settings-json-nan", config("settings_nan.json"), "non-finite")
case("config-settings-json-1e309", config("settings_1e309.json"), "learning_rate")
case("config-phase-share-above-1", config("phase_share_1_5.toml"), "share")
case("config-phase-share-nan", config("phase_share_nan.toml"), "share")
case("config-phase-epochs-0", config("phase_epochs_0.toml"), "epochs=0 must lie in [1, 1_000_000_000]")
case("config-phase-epochs-huge", config("phase_epochs_huge.toml"), "epochs")
case("config-phase-restart-string", config("phase_restart_string.toml"), "restart")
case("config-top-level-list", config("top_list.json"))
case("config-seed-huge", config("seed_huge.toml"), "seed")
case("config-unknown-extension", config("grid.yaml"))

# ---------------------------------------------------------------------------- sweep: grid files
case("sweep-grid-missing", sweep("nowhere.toml"))
case("sweep-grid-is-a-directory", lambda F, O: ["sweep", F / "grids", "--store", O])
case("sweep-grid-empty", sweep("empty.toml"))
case("sweep-grid-malformed-toml", sweep("malformed.toml"), "corrupt grid file")
case("sweep-grid-malformed-json", sweep("malformed.json"))
case("sweep-grid-not-utf8", sweep("binary.toml"))
case("sweep-grid-deep-toml", sweep("deep.toml"))
case("sweep-grid-deep-json", sweep("deep.json"))
case("sweep-grid-deep-json-object", sweep("deep_object.json"))
case("sweep-grid-duplicate-key-toml", sweep("duplicate.toml"))
case("sweep-grid-duplicate-key-json", sweep("duplicate.json"), "duplicate")
case("sweep-grid-duplicate-setting-json", sweep("duplicate_setting.json"), "duplicate")
case("sweep-grid-long-digits-json", sweep("long_digits.json"))
case("sweep-grid-unknown-key", sweep("unknown_key.toml"), "unknown key")
case("sweep-grid-million-seeds", sweep("million_seeds.toml"), "runs")
case("sweep-grid-million-combinations", sweep("million_grid.toml"))
case("sweep-grid-seeds-huge", sweep("seeds_huge.toml"), "seeds")
case("sweep-grid-seed-10e20", sweep("seed_huge.toml"), "seed")
case("sweep-grid-seeds-negative", sweep("seeds_negative.toml"), "seeds")
case("sweep-grid-seeds-inf", sweep("seeds_inf.toml"), "seeds")
case("sweep-grid-seeds-float-json", sweep("seeds_float.json"), "seeds")
case("sweep-grid-seeds-bool-json", sweep("seeds_bool.json"), "seeds")
case("sweep-grid-settings-nan", sweep("settings_nan.toml"), "learning_rate")
case("sweep-grid-settings-inf", sweep("settings_inf.toml"), "learning_rate")
case("sweep-grid-settings-json-nan", sweep("settings_nan.json"), "non-finite")
case("sweep-grid-settings-json-1e309", sweep("settings_1e309.json"), "learning_rate")
case("sweep-grid-settings-nested-table", sweep("settings_table.toml"), "settings")
case("sweep-grid-settings-list", sweep("settings_list.toml"), "settings")
case("sweep-grid-values-nested-list", sweep("grid_nested.toml"), "grid")
case("sweep-grid-values-empty-list", sweep("grid_empty.toml"), "grid")
case("sweep-grid-values-nan", sweep("grid_nan.toml"), "learning_rate")
case("sweep-grid-unknown-preset", sweep("unknown_preset.toml"), "n99")
case("sweep-grid-task-not-a-name", sweep("task_number.toml"), "tasks")
case("sweep-grid-top-level-list", sweep("top_list.json"))
case("sweep-grid-top-level-null", sweep("top_null.json"))
case("sweep-grid-unknown-extension", sweep("grid.yaml"))
case("sweep-grid-phase-share-above-1", sweep("phase_share_1_5.toml"), "share")
case("sweep-grid-phase-share-nan", sweep("phase_share_nan.toml"), "share")
case("sweep-grid-phase-share-0", sweep("phase_share_0.toml"), "share")
case("sweep-grid-phase-first-task-share", sweep("phase_first_share.toml"), "share")
case("sweep-grid-phase-epochs-0", sweep("phase_epochs_0.toml"), "epochs=0 must lie in [1, 1_000_000_000]")
case("sweep-grid-phase-epochs-negative", sweep("phase_epochs_negative.toml"), "must lie in [1, 1_000_000_000]")
case("sweep-grid-phase-steps-and-epochs", sweep("phase_steps_and_epochs.toml"), "exactly one of steps or epochs")
case("sweep-grid-phases-a-string", sweep("phases_string.toml"), "phases")
case("sweep-grid-phase-without-task", sweep("phase_no_task.toml"), "task")
case("sweep-grid-phase-unknown-task", sweep("phase_unknown_task.toml"), "unknown task")
case("sweep-grid-phase-unknown-key", sweep("phase_unknown_key.toml"), "unknown key")
case("sweep-grid-phases-and-task", sweep("phases_and_task.toml"), "phases")

# ---------------------------------------------------------------------------- sweep: flags and stores
case("sweep-unknown-executor", sweep("ok.toml", "--executor", "mpi"), "--executor 'mpi' must be one of local, pool, ray")
case("sweep-empty-executor", sweep("ok.toml", "--executor", ""), "executor")
case("sweep-workers-negative", sweep("ok.toml", "--workers", "-1"), "workers")
case("sweep-workers-0", sweep("ok.toml", "--workers", "0"), "workers")
case("sweep-workers-huge", sweep("ok.toml", "--workers", HUGE), "workers")
case("sweep-workers-pool-negative", sweep("ok.toml", "--executor", "pool", "--workers", "-1"), "workers")
case("sweep-ensemble-0", sweep("ok.toml", "--ensemble", "0"), "ensemble")
case("sweep-ensemble-negative", sweep("ok.toml", "--ensemble", "-2"), "ensemble")
case("sweep-ensemble-huge", sweep("ok.toml", "--ensemble", HUGE), "ensemble")
case("sweep-workers-arabic-digits", sweep("ok.toml", "--workers", ARABIC), "workers")
case("sweep-store-is-a-file", lambda F, O: ["sweep", F / "grids" / "ok.toml", "--store", F / "a_file"])
case("sweep-store-under-a-file", lambda F, O: ["sweep", F / "grids" / "ok.toml", "--store", F / "a_file" / "s"])
case("sweep-store-read-only", lambda F, O: ["sweep", F / "grids" / "ok.toml", "--store", F / "ro" / "s"],
     needs_permissions=True)
case("sweep-store-corrupt-index", lambda F, O: ["sweep", F / "grids" / "ok.toml", "--store", F / "store_junk"],
     "index")
case("sweep-store-index-wrong-schema",
     lambda F, O: ["sweep", F / "grids" / "ok.toml", "--store", F / "store_schema"], "index")
case("sweep-store-index-is-a-directory",
     lambda F, O: ["sweep", F / "grids" / "ok.toml", "--store", F / "store_dir_index"], "index")

# ---------------------------------------------------------------------------- runs
case("runs-store-missing", lambda F, O: ["runs", "--store", F / "nowhere"], "no run index")
case("runs-store-is-a-file", lambda F, O: ["runs", "--store", F / "a_file"])
case("runs-corrupt-index", lambda F, O: ["runs", "--store", F / "store_junk"], "index")
case("runs-truncated-index", lambda F, O: ["runs", "--store", F / "store_truncated"], "index")
case("runs-index-wrong-schema", lambda F, O: ["runs", "--store", F / "store_schema"], "index")
case("runs-index-is-a-directory", lambda F, O: ["runs", "--store", F / "store_dir_index"], "index")
case("runs-store-default-absent", lambda F, O: ["runs"], "no run index")

# ---------------------------------------------------------------------------- eval
case("eval-missing-run", lambda F, O: ["eval", F / "nowhere"], "no run directory")
case("eval-run-is-a-file", lambda F, O: ["eval", F / "a_file"])
case("eval-no-config", lambda F, O: ["eval", F / "run_no_config"], "config")
case("eval-config-is-a-directory", lambda F, O: ["eval", F / "run_config_dir"], "config")
case("eval-config-malformed", lambda F, O: ["eval", F / "run_malformed_config"], "corrupt run config")
case("eval-config-deep", lambda F, O: ["eval", F / "run_deep_config"], "config")
case("eval-config-long-digits", lambda F, O: ["eval", F / "run_long_digits_config"], "config")
case("eval-config-a-list", lambda F, O: ["eval", F / "run_list_config"], "config")
case("eval-config-nan-width", lambda F, O: ["eval", F / "run_nan_embd"], "n_embd")
case("eval-config-nan-lr", lambda F, O: ["eval", F / "run_nan_lr"], "non-finite")
case("eval-config-wrong-type", lambda F, O: ["eval", F / "run_wrong_type"], "n_embd")
case("eval-config-wrong-withheld-type", lambda F, O: ["eval", F / "run_wrong_withheld"], "withheld")
case("eval-config-huge-width", lambda F, O: ["eval", F / "run_huge_embd"], "n_embd")
case("eval-config-other-shape", lambda F, O: ["eval", F / "run_other_shape"])
case("eval-no-weights", lambda F, O: ["eval", F / "run_no_weights"], "model.safetensors")
case("eval-truncated-weights", lambda F, O: ["eval", F / "run_truncated"], "corrupt weights file")
case("eval-weights-header-huge", lambda F, O: ["eval", F / "run_huge_header"], "corrupt weights file")
case("eval-weights-nan-step", lambda F, O: ["eval", F / "run_nan_step"], "weights")
case("eval-best-missing", lambda F, O: ["eval", F / "run_no_best", "--weights", "best"], "best")
case("eval-unknown-weights", lambda F, O: ["eval", F / "run", "--weights", "latest"], "latest")
case("eval-samples-0", lambda F, O: ["eval", F / "run", "--samples", "0"], "--samples 0 must be positive")
case("eval-samples-negative", lambda F, O: ["eval", F / "run", "--samples", "-1"], "--samples")
case("eval-samples-huge", lambda F, O: ["eval", F / "run", "--samples", str(10 ** 8)], "--samples")
case("eval-seed-huge", lambda F, O: ["eval", F / "run", "--seed", HUGE], "--seed")
case("eval-seed-negative", lambda F, O: ["eval", F / "run", "--seed", "-1"], "--seed")
case("eval-unknown-task", lambda F, O: ["eval", F / "run", "--task", "nonsense"], "unknown task")
case("eval-task-outside-vocabulary", lambda F, O: ["eval", F / "run", "--task", "capitals"],
     "characters outside the vocabulary")
case("eval-withheld-outside-digits", lambda F, O: ["eval", F / "run", "withheld=5,12"], "outside the digits")
case("eval-unknown-setting", lambda F, O: ["eval", F / "run", "colour=red"])
case("eval-device-tpu", lambda F, O: ["eval", F / "run", "--device", "tpu"], "tpu")
case("eval-device-cuda-99", lambda F, O: ["eval", F / "run", "--device", "cuda:99"], "cuda")
case("eval-hf-pickle-only", lambda F, O: ["eval", F / "hf_pickle", "--task", "arithmetic"])
case("eval-neither-kind", lambda F, O: ["eval", F / "not_a_model"], "neither a memscope run nor a Hugging Face")

# ---------------------------------------------------------------------------- sample
S = ["--prompt", "<7-5="]
case("sample-top-k-0", lambda F, O: ["sample", F / "run", *S, "--top-k", "0"], "--top-k")
case("sample-top-k-negative", lambda F, O: ["sample", F / "run", *S, "--top-k", "-3"], "--top-k")
case("sample-top-k-huge", lambda F, O: ["sample", F / "run", *S, "--top-k", HUGE], "--top-k")
case("sample-n-0", lambda F, O: ["sample", F / "run", *S, "--n", "0"], "--n 0 must be positive")
case("sample-n-negative", lambda F, O: ["sample", F / "run", *S, "--n", "-1"], "--n")
case("sample-n-10e8", lambda F, O: ["sample", F / "run", *S, "--n", str(10 ** 8)], "--n")
case("sample-n-arabic-digits", lambda F, O: ["sample", F / "run", *S, "--n", ARABIC], "--n")
case("sample-temperature-nan", lambda F, O: ["sample", F / "run", *S, "--temperature", "nan"], "--temperature")
case("sample-temperature-inf", lambda F, O: ["sample", F / "run", *S, "--temperature", "inf"], "--temperature")
case("sample-temperature-negative", lambda F, O: ["sample", F / "run", *S, "--temperature", "-1"], "--temperature")
case("sample-temperature-1e309", lambda F, O: ["sample", F / "run", *S, "--temperature", "1e309"], "--temperature")
case("sample-max-new-tokens-0", lambda F, O: ["sample", F / "run", *S, "--max-new-tokens", "0"], "--max-new-tokens")
case("sample-max-new-tokens-negative", lambda F, O: ["sample", F / "run", *S, "--max-new-tokens", "-1"],
     "--max-new-tokens")
case("sample-max-new-tokens-huge", lambda F, O: ["sample", F / "run", *S, "--max-new-tokens", BIG],
     "--max-new-tokens")
case("sample-seed-huge", lambda F, O: ["sample", F / "run", *S, "--seed", HUGE], "--seed")
case("sample-prompt-outside-vocabulary", lambda F, O: ["sample", F / "run", "--prompt", "<7*5="],
     "outside the vocabulary: '*'")
case("sample-prompt-non-ascii", lambda F, O: ["sample", F / "run", "--prompt", "<٧-٥="], "outside the vocabulary")
case("sample-prompt-nul", lambda F, O: ["sample", F / "run", "--prompt", "<7\x00"], "outside the vocabulary")
case("sample-no-prompt", lambda F, O: ["sample", F / "run"], "--prompt")
case("sample-device-tpu", lambda F, O: ["sample", F / "run", *S, "--device", "tpu"], "tpu")
case("sample-missing-run", lambda F, O: ["sample", F / "nowhere", *S], "no run directory")
case("sample-truncated-weights", lambda F, O: ["sample", F / "run_truncated", *S], "corrupt weights file")
case("sample-config-nan", lambda F, O: ["sample", F / "run_nan_embd", *S], "n_embd")
case("sample-hf-pickle-only", lambda F, O: ["sample", F / "hf_pickle", *S])

# ---------------------------------------------------------------------------- bench
case("bench-threads-0", lambda F, O: ["bench", "--no-compile", "--threads", "0"], "--threads")
case("bench-threads-negative", lambda F, O: ["bench", "--no-compile", "--threads", "-1"], "--threads")
case("bench-threads-huge", lambda F, O: ["bench", "--no-compile", "--threads", HUGE], "--threads")
case("bench-steps-0", lambda F, O: ["bench", "--no-compile", "--steps", "0"], "--steps")
case("bench-steps-negative", lambda F, O: ["bench", "--no-compile", "--steps", "-1"], "--steps")
case("bench-steps-huge", lambda F, O: ["bench", "--no-compile", "--steps", HUGE], "--steps")
case("bench-device-tpu", lambda F, O: ["bench", "--no-compile", "--device", "tpu"], "tpu")
case("bench-device-empty", lambda F, O: ["bench", "--no-compile", "--device", ""], "device")
case("bench-unknown-flag", lambda F, O: ["bench", "--no-compile", "--out", O], "--out")

# ---------------------------------------------------------------------------- reproduce
case("reproduce-no-study", lambda F, O: ["reproduce", "--json"], "name a study")
case("reproduce-unknown-study", lambda F, O: ["reproduce", "nope", "--out", O], "unknown study 'nope'")
case("reproduce-unknown-profile", reproduce("tbtt", "--profile", "huge"), "huge")
case("reproduce-seeds-0", reproduce("tbtt", "--seeds", "0"), "seeds")
case("reproduce-seeds-negative", reproduce("tbtt", "--seeds", "-1"), "seeds")
case("reproduce-seeds-huge", reproduce("tbtt", "--seeds", HUGE), "seeds")
case("reproduce-seeds-arabic-digits", reproduce("tbtt", "--seeds", ARABIC), "seeds")
case("reproduce-workers-0", reproduce("tbtt", "--workers", "0"), "workers")
case("reproduce-workers-negative", reproduce("tbtt", "--workers", "-1"), "workers")
case("reproduce-unknown-executor", reproduce("tbtt", "--executor", "mpi"), "--executor 'mpi' must be one of pool, local, ray")
case("reproduce-withheld-outside-digits", reproduce("tbtt", "--withheld", "5,12"), "outside the digits")
case("reproduce-withheld-letters", reproduce("tbtt", "--withheld", "a,b"), "withheld")
case("reproduce-withheld-arabic-digits", reproduce("tbtt", "--withheld", "١,٢"), "withheld")
case("reproduce-other-study-option", reproduce("tbtt", "--precision", "bf16"),
     "--precision is not an option of study 'tbtt'")
case("reproduce-unknown-option", reproduce("tbtt", "--bogus", "1"), "--bogus")
case("reproduce-out-is-a-file", lambda F, O: ["reproduce", "tbtt", "--profile", "tiny", "--executor", "local",
                                              "--out", F / "a_file"])
case("reproduce-out-read-only", lambda F, O: ["reproduce", "tbtt", "--profile", "tiny", "--executor", "local",
                                              "--out", F / "ro" / "t"], needs_permissions=True)
case("reproduce-capacity-precision", reproduce("capacity", "--precision", "fp8"), "precision")
case("reproduce-capacity-device-tpu", reproduce("capacity", "--device", "tpu"), "tpu")
case("reproduce-capacity-withheld", reproduce("capacity", "--withheld", "2,3"),
     "--withheld is not an option of study 'capacity'")

# ---------------------------------------------------------------------------- capacity
case("capacity-unknown-profile", capacity("--profile", "huge"), "huge")
case("capacity-precision-fp8", capacity("--precision", "fp8"), "precision")
case("capacity-seeds-0", capacity("--seeds", "0"), "seeds")
case("capacity-seeds-huge", capacity("--seeds", HUGE), "seeds")
case("capacity-workers-negative", capacity("--workers", "-1"), "workers")
case("capacity-unknown-executor", capacity("--executor", "mpi"), "--executor 'mpi' must be one of pool, local, ray")
case("capacity-device-tpu", capacity("--device", "tpu"), "tpu")
case("capacity-out-is-a-file", lambda F, O: ["capacity", "--profile", "tiny", "--executor", "local",
                                             "--out", F / "a_file"])

# ---------------------------------------------------------------------------- audit
case("audit-members-missing", audit(members="nowhere.txt"), "no members file")
case("audit-members-empty", audit(members="empty.txt"), "holds no samples")
case("audit-nonmembers-empty", audit(nonmembers="empty.txt"), "holds no samples")
case("audit-members-blank-lines", audit(members="blank.txt"), "holds no samples")
case("audit-members-is-a-directory", lambda F, O: ["audit", "--target", F / "run", "--members", F / "items",
                                                   "--nonmembers", F / "items" / "nonmembers.txt"])
case("audit-members-not-utf8", audit(members="binary.txt"))
case("audit-members-outside-vocabulary", audit(members="outside.txt"), "outside the vocabulary")
case("audit-members-long-digits-jsonl", audit(members="long_digits.jsonl"))
case("audit-members-deep-jsonl", audit(members="deep.jsonl"))
case("audit-members-text-not-a-string", audit(members="text_number.jsonl"), "text")
case("audit-members-jsonl-without-text", audit(members="no_text.jsonl"), "text")
case("audit-members-jsonl-malformed", audit(members="malformed.jsonl"))
case("audit-canaries-alphabet-number", audit("--canaries", "F:items/canary_alphabet_number.jsonl"), "alphabet")
case("audit-canaries-alphabet-list", audit("--canaries", "F:items/canary_alphabet_list.jsonl"), "alphabet")
case("audit-canaries-alphabet-empty", audit("--canaries", "F:items/canary_alphabet_empty.jsonl"), "alphabet")
case("audit-canaries-unfit", audit("--canaries", "F:items/canary_unfit.jsonl"), "does not fit its format")
case("audit-canaries-unclosed-slot", audit("--canaries", "F:items/canary_unclosed.jsonl"), "format")
case("audit-canaries-unknown-slot", audit("--canaries", "F:items/canary_unknown_slot.jsonl"), "format")
case("audit-canaries-outside-vocabulary", audit("--canaries", "F:items/canary_outside.jsonl"),
     "outside the vocabulary")
case("audit-canaries-no-format", audit("--canaries", "F:items/canary_no_format.jsonl"), "format")
case("audit-canaries-text-number", audit("--canaries", "F:items/canary_text_number.jsonl"), "text")
case("audit-canaries-empty", audit("--canaries", "F:items/empty.txt"))
case("audit-canaries-plain-text", audit("--canaries", "F:items/members.txt"))
case("audit-canaries-long-digits", audit("--canaries", "F:items/long_digits.jsonl"))
case("audit-prefix-tokens-0", audit("--prefix-tokens", "0"), "--prefix-tokens 0 must lie in")
case("audit-suffix-tokens-negative", audit("--suffix-tokens", "-1"), "--suffix-tokens")
case("audit-prefix-tokens-huge", audit("--prefix-tokens", HUGE), "--prefix-tokens")
case("audit-canary-candidates-0", audit("--canaries", "F:items/canaries.jsonl", "--canary-candidates", "0"),
     "--canary-candidates")
case("audit-canary-candidates-huge", audit("--canaries", "F:items/canaries.jsonl", "--canary-candidates", HUGE),
     "--canary-candidates")
case("audit-batch-size-0", audit("--batch-size", "0"), "--batch-size")
case("audit-batch-size-negative", audit("--batch-size", "-4"), "--batch-size")
case("audit-seed-huge", audit("--seed", HUGE), "--seed")
case("audit-device-tpu", audit("--device", "tpu"), "tpu")
case("audit-target-missing", audit(target="nowhere"), "no model directory")
case("audit-target-is-a-file", audit(target="a_file"))
case("audit-target-not-a-model", audit(target="empty_dir"), "is not a model directory")
case("audit-target-neither-kind", audit(target="not_a_model"), "neither a memscope run nor a Hugging Face")
case("audit-target-hf-pickle-only", audit(target="hf_pickle"))
# Hugging Face directories: code of their own (never run: the file would write inside the fixture), not a
# causal LM transformers knows, a FIFO that would block a read, text the tokenizer cannot represent
case("audit-target-hf-remote-code", audit(target="hf_remote"), "memscope never runs code from a model directory")
case("audit-reference-hf-remote-code", audit("--reference", "F:hf_remote"), "never runs code")
case("audit-target-hf-tokenizer-remote-code", audit(target="hf_remote_tokenizer"), "never runs code")
case("eval-hf-remote-code", lambda F, O: ["eval", F / "hf_remote", "--task", "arithmetic"], "auto_map")
case("sample-hf-remote-code", lambda F, O: ["sample", F / "hf_remote", *S], "auto_map")
case("size-reference-hf-remote-code", lambda F, O: ["size", "--text", F / "items" / "members.txt",
                                                    "--reference", F / "hf_remote"])
case("audit-target-hf-masked-lm", audit(target="hf_masked_lm"), "'BertForMaskedLM' is not a causal language model")
case("eval-hf-unknown-model-type", lambda F, O: ["eval", F / "hf_unknown", "--task", "arithmetic"],
     "is not a causal language model")
case("sample-hf-fifo", lambda F, O: ["sample", F / "hf_fifo", *S], "is not a regular file")
case("audit-hf-unrepresentable-member", audit(target="hf_tiny", members="unrepresentable.txt"),
     "members sample 2: the tokenizer of" if HAS_HF else None)
case("sample-hf-config-larger-than-weights", lambda F, O: ["sample", F / "hf_huge", *S],
     "declares a model of" if HAS_HF else None)
case("sample-hf-unrepresentable-prompt", lambda F, O: ["sample", F / "hf_tiny", "--prompt", "<1\u00e9"],
     "cannot represent" if HAS_HF else None)
case("audit-target-truncated-weights", audit(target="run_truncated"), "corrupt weights file")
case("audit-target-config-nan", audit(target="run_nan_embd"), "n_embd")
case("audit-reference-corrupt", audit("--reference", "F:run_truncated"), "corrupt weights file")
case("audit-reference-missing", audit("--reference", "F:nowhere"), "no model directory")
case("audit-out-is-a-file", lambda F, O: audit()(F, O) + ["--out", F / "a_file"])
case("audit-out-under-a-file", lambda F, O: audit()(F, O) + ["--out", F / "a_file" / "audit"])
case("audit-out-read-only", lambda F, O: audit()(F, O) + ["--out", F / "ro" / "audit"], needs_permissions=True)
case("audit-out-with-bad-members", lambda F, O: audit(members="empty.txt")(F, O) + ["--out", O], "holds no samples")

# ---------------------------------------------------------------------------- size
case("size-bits-nan", lambda F, O: ["size", "--bits", "nan"], "--bits")
case("size-bits-inf", lambda F, O: ["size", "--bits", "inf"], "--bits")
case("size-bits-minus-inf", lambda F, O: ["size", "--bits", "-inf"], "--bits")
case("size-bits-1e309", lambda F, O: ["size", "--bits", "1e309"], "--bits")
case("size-bits-0", lambda F, O: ["size", "--bits", "0"], "--bits")
case("size-bits-negative", lambda F, O: ["size", "--bits", "-5"], "must be a positive number")
case("size-bits-arabic-digits", lambda F, O: ["size", "--bits", ARABIC], "--bits")
case("size-params-0", lambda F, O: ["size", "--bits", "100", "--params", "0"], "params")
case("size-params-negative", lambda F, O: ["size", "--bits", "100", "--params", "-1"], "params")
case("size-params-huge", lambda F, O: ["size", "--bits", "100", "--params", HUGE], "params")
case("size-tokens-0", lambda F, O: ["size", "--bits", "100", "--tokens", "0"], "tokens")
case("size-tokens-huge", lambda F, O: ["size", "--bits", "100", "--tokens", HUGE], "tokens")
case("size-no-source", lambda F, O: ["size"], "one of the arguments --text --bits is required")
case("size-text-missing", lambda F, O: ["size", "--text", F / "nowhere.txt"], "missing text file")
case("size-text-is-a-directory", lambda F, O: ["size", "--text", F / "items"])
case("size-text-empty", lambda F, O: ["size", "--text", F / "items" / "empty.txt"], "is empty")
case("size-text-not-utf8", lambda F, O: ["size", "--text", F / "items" / "binary.txt"], "not UTF-8")
case("size-reference-outside-vocabulary",
     lambda F, O: ["size", "--text", F / "items" / "outside.txt", "--reference", F / "run"], "outside the vocabulary")
case("size-reference-missing", lambda F, O: ["size", "--text", F / "items" / "members.txt", "--reference",
                                             F / "nowhere"])
case("size-reference-truncated", lambda F, O: ["size", "--text", F / "items" / "members.txt", "--reference",
                                               F / "run_truncated"], "corrupt weights file")
case("size-reference-hf-pickle-only", lambda F, O: ["size", "--text", F / "items" / "members.txt",
                                                    "--reference", F / "hf_pickle"])
case("size-reference-device-tpu", lambda F, O: ["size", "--text", F / "items" / "members.txt", "--reference",
                                                F / "run", "--device", "tpu"], "tpu")
case("size-capacity-missing", lambda F, O: ["size", "--bits", "100", "--capacity", F / "nope.json"],
     "missing capacity results")
case("size-capacity-malformed", lambda F, O: ["size", "--bits", "100", "--capacity", F / "grids" / "malformed.json"])
case("size-capacity-deep", lambda F, O: ["size", "--bits", "100", "--capacity", F / "grids" / "deep.json"])
case("size-capacity-long-digits", lambda F, O: ["size", "--bits", "100", "--capacity",
                                                F / "grids" / "long_digits.json"])
case("size-capacity-infinite", lambda F, O: ["size", "--bits", "100", "--capacity", F / "capacity_inf.json"],
     "non-finite")
case("size-capacity-nan", lambda F, O: ["size", "--bits", "100", "--capacity", F / "capacity_nan.json"],
     "non-finite")
case("size-capacity-string", lambda F, O: ["size", "--bits", "100", "--capacity", F / "capacity_string.json"],
     "bits_per_param")
case("size-capacity-is-a-directory", lambda F, O: ["size", "--bits", "100", "--capacity", F / "items"])


# ---------------------------------------------------------------------------- issue 27: checks first, one line
# (more in tests/integration/test_checks_first.py: epochs that would hold millions of rows, missing CUDA
# devices, sweeps that cannot train, --steps with phases, strict --json, a closed pipe)
case("train-lr-1e308", train("learning_rate=1e308"), "learning_rate")
case("train-lr-above-10", train("learning_rate=11"), "learning_rate")
case("train-weight-decay-1e308", train("weight_decay=1e308"), "weight_decay")
case("train-weight-decay-times-lr-above-1", train("learning_rate=0.1", "weight_decay=11"), "weight_decay")
case("train-temperature-1e-300", train("temperature=1e-300"), "temperature")
case("train-key-with-newline", train("learning\nrate=1"), "learning\\nrate")
case("train-value-with-escape", train("learning_rate=\x1b[31m"), "learning_rate")
case("sample-temperature-1e-300", lambda F, O: ["sample", F / "run", "--prompt", "<1+", "--temperature", "1e-300"],
     "--temperature")
case("reproduce-withheld-empty", reproduce("tbtt", "--withheld", ""), "--withheld")
case("reproduce-withheld-semicolon", reproduce("tbtt", "--withheld", ";"), "--withheld")
case("reproduce-withheld-newline", reproduce("tbtt", "--withheld", "5,7\n2,3"), "--withheld")
case("size-bits-1e308", lambda F, O: ["size", "--bits", "1e308", "--json"], "--bits")
case("size-bits-1e-300", lambda F, O: ["size", "--bits", "1e-300"], "--bits")
case("config-path-with-newline", lambda F, O: ["train", "--config", F / "no\nsuch.toml", "--out", O])


# ---------------------------------------------------------------------------- the fixture directory
def _write_grids(d: Path) -> None:
    d.mkdir()
    files = {
        "ok.toml": BASE_TOML,
        "empty.toml": "",
        "malformed.toml": "task = [",
        "malformed.json": "{",
        "deep.toml": f"x = {DEEP}\n",
        "deep.json": DEEP,
        "deep_object.json": '{"a": ' * 5000 + "1" + "}" * 5000,
        "duplicate.toml": BASE_TOML.replace('model = "n14"', 'model = "n14"\nmodel = "n28"'),
        "duplicate.json": '{"task": "arithmetic", "task": "capitals", "model": "n14", "seeds": 1, '
                          '"settings": {"steps": 2, "eval_interval": 1, "batch_size": 4, "eval_samples": 1}}',
        "duplicate_setting.json": '{"task": "arithmetic", "model": "n14", "seeds": 1, "settings": {"steps": 2, '
                                  '"steps": 3, "eval_interval": 1, "batch_size": 4, "eval_samples": 1}}',
        "long_digits.json": '{"task": "arithmetic", "model": "n14", "seeds": 1' + "0" * 5000 + "}",
        "unknown_key.toml": BASE_TOML.replace("seeds = 1", "seeds = 1\ncolour = 1"),
        "two_models.toml": BASE_TOML.replace('model = "n14"', 'models = ["n14", "n28"]'),
        "million_seeds.toml": BASE_TOML.replace("seeds = 1", "seeds = 1000000"),
        "million_grid.toml": BASE_TOML + "[grid]\nlearning_rate = [" + ", ".join(f"{1e-3 + i * 1e-6:.6g}" for i in range(1000))
                             + "]\nwarmup_steps = [" + ", ".join(str(i) for i in range(1000)) + "]\n",
        "seeds_huge.toml": BASE_TOML.replace("seeds = 1", f"seeds = {BIG}"),
        "seed_huge.toml": BASE_TOML.replace("seeds = 1", f"seeds = [{HUGE}]"),
        "seeds_negative.toml": BASE_TOML.replace("seeds = 1", "seeds = [-1]"),
        "seeds_inf.toml": BASE_TOML.replace("seeds = 1", "seeds = inf"),
        "settings_nan.toml": BASE_TOML + "learning_rate = nan\n",
        "settings_inf.toml": BASE_TOML + "learning_rate = inf\n",
        "settings_table.toml": BASE_TOML + "[settings.nested]\na = 1\n",
        "settings_list.toml": BASE_TOML.replace("steps = 2", "steps = [1, 2]"),
        "grid_nested.toml": BASE_TOML + '[grid]\nwithheld = [["5,7"]]\n',
        "grid_empty.toml": BASE_TOML + "[grid]\nwithheld = []\n",
        "grid_nan.toml": BASE_TOML + "[grid]\nlearning_rate = [nan, 0.01]\n",
        "unknown_preset.toml": BASE_TOML.replace('model = "n14"', 'model = "n99"'),
        "task_number.toml": BASE_TOML.replace('task = "arithmetic"', "task = 5"),
        "top_list.json": "[]",
        "top_null.json": "null",
        "grid.yaml": "task: arithmetic\nmodel: n14\n",
        "binary.toml": b"\xff\xfe\x00task = \x80\x81",
        "phase_share_1_5.toml": PHASES_TOML.replace("share = 0.25", "share = 1.5"),
        "phase_share_nan.toml": PHASES_TOML.replace("share = 0.25", "share = nan"),
        "phase_share_0.toml": PHASES_TOML.replace("share = 0.25", "share = 0.0"),
        "phase_first_share.toml": PHASES_TOML.replace('withheld = "2,3"', 'withheld = "2,3"\nshare = 0.5'),
        "phase_epochs_0.toml": PHASES_TOML.replace("epochs = 1\n[[phases.tasks]]", "epochs = 0\n[[phases.tasks]]", 1),
        "phase_epochs_negative.toml": PHASES_TOML.replace("epochs = 1\n[[phases.tasks]]",
                                                          "epochs = -1\n[[phases.tasks]]", 1),
        "phase_epochs_huge.toml": PHASES_TOML.replace("epochs = 1\n[[phases.tasks]]",
                                                      f"epochs = {BIG}\n[[phases.tasks]]", 1),
        "phase_steps_and_epochs.toml": PHASES_TOML.replace("restart = true", "restart = true\nsteps = 3"),
        "phase_restart_string.toml": PHASES_TOML.replace("restart = true", 'restart = "yes"'),
        "phases_string.toml": 'model = "n14"\nseeds = [0]\nphases = "two"\n',
        "phase_no_task.toml": 'model = "n14"\nseeds = [0]\n[[phases]]\nname = "one"\nepochs = 1\n',
        "phase_unknown_task.toml": PHASES_TOML.replace('withheld = "2,3"\n', "").replace(
            '[[phases.tasks]]\ntask = "arithmetic"\nshare', '[[phases.tasks]]\ntask = "nope"\nshare'),
        "phase_unknown_key.toml": PHASES_TOML.replace("restart = true", "restart = true\nwarmup = 3"),
        "phases_and_task.toml": 'task = "arithmetic"\n' + PHASES_TOML,
        "seeds_float.json": json.dumps({**BASE_GRID, "seeds": 2.5}),
        "seeds_bool.json": json.dumps({**BASE_GRID, "seeds": True}),
        "settings_nan.json": json.dumps({**BASE_GRID, "settings": {**BASE_GRID["settings"], "learning_rate": float("nan")}}),
        "settings_1e309.json": json.dumps(BASE_GRID).replace('"steps": 2', '"steps": 2, "learning_rate": 1e309'),
    }
    for name, text in files.items():
        (d / name).write_bytes(text if isinstance(text, bytes) else text.encode())


def _write_items(d: Path) -> None:
    d.mkdir()
    lines = {
        "members.txt": "<1+2=3\n<4-1=3\n<2+2=4\n<9-3=6\n",
        "nonmembers.txt": "<1+3=4\n<4-2=2\n<2+5=7\n<8-3=5\n",
        "empty.txt": "",
        "blank.txt": "\n\n\n",
        "outside.txt": "<1+2=3\nxyz\n",
        "long_digits.jsonl": '{"text": ' + "1" * 5000 + "}\n",
        "deep.jsonl": DEEP + "\n",
        "text_number.jsonl": '{"text": 5}\n',
        "no_text.jsonl": '{"body": "<1+2=3"}\n',
        "malformed.jsonl": '{"text": "<1+2=3"\n',
        "canaries.jsonl": json.dumps({"text": "<12", "format": "<{dd}"}) + "\n",
        "canary_alphabet_number.jsonl": json.dumps({"text": "<1", "format": "<{?}", "alphabet": 5}) + "\n",
        "canary_alphabet_list.jsonl": json.dumps({"text": "<1", "format": "<{?}", "alphabet": ["1", "2"]}) + "\n",
        "canary_alphabet_empty.jsonl": json.dumps({"text": "<1", "format": "<{?}", "alphabet": ""}) + "\n",
        "canary_unfit.jsonl": json.dumps({"text": "<123", "format": "<{dd}"}) + "\n",
        "canary_unclosed.jsonl": json.dumps({"text": "<12", "format": "<{dd"}) + "\n",
        "canary_unknown_slot.jsonl": json.dumps({"text": "<12", "format": "<{qq}"}) + "\n",
        "canary_outside.jsonl": json.dumps({"text": "<ab", "format": "<{aa}"}) + "\n",
        "canary_no_format.jsonl": json.dumps({"text": "<12"}) + "\n",
        "canary_text_number.jsonl": json.dumps({"text": 12, "format": "{dd}"}) + "\n",
    }
    for name, text in lines.items():
        (d / name).write_text(text)
    (d / "binary.txt").write_bytes(b"<1+2=3\n\xff\xfe\xfa\n")


def _corrupt_runs(F: Path, run: Path) -> None:
    def copy(name, edit_config=None):
        dst = F / name
        shutil.copytree(run, dst)
        if edit_config is not None:
            cfg = json.loads((run / "config.json").read_text())
            edit_config(cfg)
            (dst / "config.json").write_text(json.dumps(cfg))  # allow_nan: NaN and Infinity as JSON writes them
        return dst

    (copy("run_no_config") / "config.json").unlink()
    d = copy("run_config_dir")
    (d / "config.json").unlink()
    (d / "config.json").mkdir()
    (copy("run_malformed_config") / "config.json").write_text("{not json")
    (copy("run_deep_config") / "config.json").write_text(DEEP)
    (copy("run_long_digits_config") / "config.json").write_text(
        (run / "config.json").read_text().replace('"n_embd": 14', '"n_embd": 1' + "4" * 5000))
    (copy("run_list_config") / "config.json").write_text("[]")
    copy("run_nan_embd", lambda c: c["model"].__setitem__("n_embd", float("nan")))
    copy("run_nan_lr", lambda c: c["train"].__setitem__("learning_rate", float("nan")))
    copy("run_wrong_type", lambda c: c["model"].__setitem__("n_embd", "fourteen"))
    copy("run_wrong_withheld", lambda c: c["task_params"].__setitem__("withheld", "x"))
    copy("run_huge_embd", lambda c: c["model"].__setitem__("n_embd", 10 ** 20))
    copy("run_other_shape", lambda c: c["model"].__setitem__("n_embd", 28))
    (copy("run_no_weights") / "model.safetensors").unlink()
    (copy("run_no_best") / "best.safetensors").unlink()
    d = copy("run_truncated")
    (d / "model.safetensors").write_bytes((run / "model.safetensors").read_bytes()[:100])
    d = copy("run_huge_header")  # a safetensors header claiming 2**62 bytes
    (d / "model.safetensors").write_bytes((2 ** 62).to_bytes(8, "little") + b"{}")
    d = copy("run_nan_step")  # valid tensors, a step in the metadata that is not a number
    from safetensors.torch import load_file, save_file
    save_file(load_file(run / "model.safetensors"), d / "model.safetensors", metadata={"step": "nan"})
    d = copy("run_bad_checkpoint")
    (d / "summary.json").unlink()
    (d / "checkpoint.safetensors").write_bytes(b"\x00" * 64)
    d = copy("run_empty_metrics")
    (d / "metrics.jsonl").write_text("")
    (d / "summary.json").write_text("")


def _stores(F: Path) -> None:
    (F / "store_junk").mkdir()
    (F / "store_junk" / "index.sqlite").write_bytes(b"this is not a database\n" * 10)
    (F / "store_truncated").mkdir()
    (F / "store_truncated" / "index.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x10\x00" + b"\x00" * 30)
    (F / "store_schema").mkdir()
    con = sqlite3.connect(F / "store_schema" / "index.sqlite")
    con.execute("CREATE TABLE colours (name TEXT)")
    con.commit()
    con.close()
    (F / "store_dir_index" / "index.sqlite").mkdir(parents=True)


def _hf_dirs(F: Path) -> None:
    """Hugging Face directories refused before transformers reads them, and a tiny real one."""
    from helpers import save_tiny_gpt2
    gpt2 = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": 1, "n_head": 2, "n_embd": 16,
            "vocab_size": 20, "n_positions": 32}
    evil = f"import pathlib\npathlib.Path({str(F / 'CODE_RAN')!r}).write_text('ran')\n"
    for name, config, tok_config in (
            ("hf_remote", {**gpt2, "model_type": "evil-gpt2", "auto_map": {"AutoModelForCausalLM": "evil.Model"}},
             None),
            ("hf_remote_tokenizer", gpt2, {"auto_map": {"AutoTokenizer": [None, "evil.Tok"]},
                                           "tokenizer_class": "Tok"}),
            ("hf_masked_lm", {**gpt2, "model_type": "bert", "architectures": ["BertForMaskedLM"]}, None),
            ("hf_unknown", {**gpt2, "model_type": "no-such-model"}, None),
            ("hf_fifo", gpt2, None)):
        d = F / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps(config))
        (d / "evil.py").write_text(evil)
        (d / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
        if tok_config is not None:
            (d / "tokenizer_config.json").write_text(json.dumps(tok_config))
    os.mkfifo(F / "hf_fifo" / "tokenizer.json")  # reading it would block forever
    if HAS_HF:
        save_tiny_gpt2(F / "hf_tiny", "\n +-0123456789<=>")
        shutil.copytree(F / "hf_tiny", F / "hf_huge")  # a config declaring far more than its weights hold
        config = json.loads((F / "hf_huge" / "config.json").read_text())
        (F / "hf_huge" / "config.json").write_text(json.dumps({**config, "n_layer": 20000, "n_embd": 4096}))
    else:  # refused for want of transformers: still one line
        (F / "hf_tiny").mkdir()
        (F / "hf_tiny" / "config.json").write_text(json.dumps(gpt2))
        shutil.copytree(F / "hf_tiny", F / "hf_huge")
    (F / "items" / "unrepresentable.txt").write_text("<1+2=3\n\u00e9\u00e9\u00e9\n<2+2=4\n")


@pytest.fixture(scope="module")
def F(tmp_path_factory):
    F = tmp_path_factory.mktemp("fixture")
    run = F / "run"
    assert main(["-q", "train", "--task", "arithmetic", "--model", "n14", "--steps", "20", *TINY,
                 "--out", str(run)]) == 0
    _corrupt_runs(F, run)
    _write_grids(F / "grids")
    _write_items(F / "items")
    _stores(F)
    (F / "a_file").write_text("a file where a directory is expected\n")
    (F / "empty_dir").mkdir()
    (F / "not_a_model").mkdir()
    (F / "not_a_model" / "config.json").write_text('{"colour": "red"}')
    hf = F / "hf_pickle"  # a Hugging Face directory whose only weights are a pickle: junk, never a real one
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
                                                "n_layer": 1, "n_head": 2, "n_embd": 16, "vocab_size": 20,
                                                "n_positions": 32}))
    (hf / "pytorch_model.bin").write_bytes(b"PK\x03\x04 not a real pickle: never load me\n" * 4)
    _hf_dirs(F)
    (F / "capacity_inf.json").write_text('{"bits_per_param": {"total": {"bits_per_param": Infinity}}}')
    (F / "capacity_nan.json").write_text('{"bits_per_param": {"total": {"bits_per_param": NaN}}}')
    (F / "capacity_string.json").write_text('{"bits_per_param": {"total": {"bits_per_param": "lots"}}}')
    (F / "ro").mkdir()
    (F / "ro").chmod(0o555)
    yield F
    (F / "ro").chmod(0o755)


def _tree(root: Path) -> dict:
    """Every path under root with its kind, size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (name in dirnames, st.st_size if name in filenames else 0, st.st_mtime_ns)
    return out


class _Alarm(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Alarm(f"still running after {ALARM_S} s: validation did not stop it")


def test_corpus_is_large_and_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(CASES) >= 150, len(CASES)
    commands = {c.argv(Path("F"), Path("O"))[0] for c in CASES if c.argv(Path("F"), Path("O"))}
    assert commands >= {"tasks", "info", "train", "eval", "sample", "sweep", "runs", "bench", "reproduce", "audit",
                        "capacity", "size"}


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_one_line_exit_2_and_writes_nothing(c, F, tmp_path, monkeypatch, capsys):
    if c.needs_permissions and IS_ROOT:
        pytest.skip("root ignores directory permissions")
    O = tmp_path / "out"
    argv = [str(a) for a in c.argv(F, O)]
    monkeypatch.chdir(tmp_path)  # a default output (runs/...) would land here, and must not
    fixture_before = _tree(F)
    capsys.readouterr()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(ALARM_S)
    try:
        code, raised = main(argv), None
    except BaseException as e:  # noqa: BLE001: a traceback is what this test reports
        code, raised = None, e
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    fixture_after = _tree(F)
    written = sorted(set(_tree(tmp_path)) | {f"F/{p}" for p, v in fixture_after.items() if fixture_before.get(p) != v})
    changed_fixture = sorted(p for p in fixture_before if p not in fixture_after)
    problems = []
    if raised is not None:
        problems.append(f"raised {type(raised).__name__}: {str(raised)[:160]}")
    elif code != 2:
        problems.append(f"exit {code}")
    lines = err.strip().splitlines()
    if raised is None and (len(lines) != 1 or not lines[0].startswith("memscope: error:")):
        problems.append(f"stderr has {len(lines)} lines: {err.strip()[:300]!r}")
    if "Traceback" in err:
        problems.append("a traceback on stderr")
    if out:
        problems.append(f"stdout: {out[:120]!r}")
    if written or changed_fixture:
        problems.append(f"wrote {(written + changed_fixture)[:6]}")
    if c.needle is not None and raised is None and lines and c.needle not in lines[-1]:
        problems.append(f"message lacks {c.needle!r}: {lines[-1][:200]!r}")
    assert not problems, "; ".join(problems)


# ---------------------------------------------------------------------------- nothing loaded as code
FORBIDDEN_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}


def test_source_loads_no_pickle_and_executes_no_text():
    """No pickle, torch.load, exec or eval anywhere in src/ (ast, so comments and docstrings may say so)."""
    import ast

    import memscope
    found = []
    for path in sorted(Path(memscope.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.name}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                found += [f"{where} import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{where} from {node.module} import")
            elif isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name) and f.id in {"exec", "eval", "compile", "__import__"}:
                    found.append(f"{where} {f.id}()")
                elif isinstance(f, ast.Attribute) and f.attr == "load" and isinstance(f.value, ast.Name) \
                        and f.value.id in {"torch", "pickle"}:
                    found.append(f"{where} {f.value.id}.load()")
    assert not found, found
