import json

import pytest
from safetensors.torch import load_file

from memscope.cli import main

from helpers import kill_when_ready

TINY = ["--task", "arithmetic", "--model", "n14", "eval_interval=20", "batch_size=64", "eval_samples=2"]


def _figures(summary):
    return {k: v for k, v in summary.items() if k != "wall_s"}


def _records(run):
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["-q", "train", *TINY, "--steps", "60", "--out", str(out)]) == 0
    return out


def test_train_writes_a_complete_run_directory(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"config.json", "metrics.jsonl", "summary.json", "model.safetensors", "best.safetensors",
            "checkpoint.safetensors"} <= names
    assert not any(n.endswith(".tmp") for n in names)
    summary = json.loads((tiny_run / "summary.json").read_text())
    for key in ("n_params", "steps", "add_acc", "sub_acc", "withheld_correct", "withheld_total",
                "first_withheld_step", "combined_acc", "seen_acc", "wall_s"):
        assert key in summary
    assert summary["n_params"] == 1456 and summary["steps"] == 60 and summary["withheld_total"] == 8
    assert [r["step"] for r in _records(tiny_run)] == [0, 20, 40, 60]
    assert "lm_head.weight" not in load_file(tiny_run / "model.safetensors")


def test_same_seed_same_numbers(tiny_run, tmp_path, cli_json):
    again = cli_json("-q", "train", *TINY, "--steps", "60", "--out", tmp_path / "again")
    assert _figures(again) == _figures(json.loads((tiny_run / "summary.json").read_text()))
    a, b = load_file(tiny_run / "model.safetensors"), load_file(tmp_path / "again" / "model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)


def test_eval_reproduces_the_logged_final_figures(tiny_run, cli_json):
    m = cli_json("-q", "eval", tiny_run)
    final = _records(tiny_run)[-1]
    for key in ("add_acc", "sub_acc", "combined_acc", "withheld_correct", "withheld_total"):
        assert m[key] == final[key]
    assert m["step"] == 60


def test_eval_with_other_settings_and_task(tiny_run, cli, cli_json):
    m = cli_json("-q", "eval", tiny_run)
    assert list(m)[:5] == ["run", "weights", "step", "task", "model"] and m["task"] == "arithmetic"
    other = cli_json("-q", "eval", tiny_run, "--samples", "3", "--seed", "5", "withheld=2,3")
    assert other["withheld_total"] == 12 and set(other["withheld_by_prompt"]) == {"<2+3=", "<3+2=", "<2-3=", "<3-2="}
    _one_line_error(*cli("eval", tiny_run, "--task", "capitals"), "characters outside the vocabulary")


def test_sample_prints_continuations(tiny_run, cli_json):
    out = cli_json("-q", "sample", tiny_run, "--prompt", "<7-5=", "--n", "3")
    assert len(out["samples"]) == 3 and all(s.startswith("<7-5=") and len(s) == 9 for s in out["samples"])


def test_killed_run_resumes_to_the_same_figures(tmp_path, cli_json):
    args = [*TINY, "--steps", "300"]
    killed = tmp_path / "killed"

    def step_100_evaluated():
        metrics = killed / "metrics.jsonl"
        return metrics.is_file() and metrics.read_text().count("\n") >= 6

    kill_when_ready(["-q", "train", *args, "--out", killed], step_100_evaluated)
    assert not (killed / "summary.json").exists(), "the run ended before it could be killed"
    resumed = cli_json("-q", "train", *args, "--out", killed, "--resume")
    straight = cli_json("-q", "train", *args, "--out", tmp_path / "straight")
    assert _figures(resumed) == _figures(straight)
    assert _records(killed) == _records(tmp_path / "straight")
    a, b = load_file(killed / "model.safetensors"), load_file(tmp_path / "straight" / "model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)


def test_resume_of_a_finished_run_changes_nothing(tiny_run, cli_json):
    before = (tiny_run / "summary.json").read_text()
    again = cli_json("-q", "train", *TINY, "--steps", "60", "--out", tiny_run, "--resume")
    assert json.loads(before) == again and (tiny_run / "summary.json").read_text() == before


# ------------------------------------------------------------------------------------------ bad input
def _one_line_error(code, out, err, needle):
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize("argv, needle", [
    (["--task", "algebra", "--model", "n14"], "unknown task 'algebra'"),
    (["--task", "arithmetic", "--model", "n99"], "unknown model preset 'n99'"),
    (["--task", "arithmetic", "--model", "n14", "n_embd=15", "n_head=2"], "n_embd=15 is not divisible by n_head=2"),
    (["--task", "arithmetic", "--model", "n14", "--steps", "0"], "steps=0 must lie in [1, 1_000_000_000]"),
    (["--task", "arithmetic", "--model", "n14", "batch_size=-3"], "batch_size=-3 must lie in [1, 1_048_576]"),
    (["--task", "arithmetic", "--model", "n14", "n_layer=0"], "n_layer=0 must lie in [1, 1024]"),
    (["--task", "arithmetic", "--model", "n14", "n_embd=abc"], "n_embd='abc' is not a valid int"),
    (["--task", "arithmetic", "--model", "n14", "colour=red"], "unknown setting 'colour'"),
    (["--task", "arithmetic", "--model", "n14", "withheld=5,12"], "outside the digits"),
    (["--task", "arithmetic", "--model", "n14", "block_size=2000"], "block_size=2000 needs a training text"),
    (["--task", "arithmetic", "--model", "n14", "device=tpu"], "device='tpu'"),
    (["--task", "arithmetic", "--model", "n14", "--steps", "x"], "steps='x' is not a valid int"),
])
def test_bad_training_input_is_one_line_and_writes_nothing(cli, tmp_path, argv, needle):
    out = tmp_path / "never"
    _one_line_error(*cli("train", *argv, "--out", out), needle)
    assert not out.exists()


def test_bad_info_input(cli):
    _one_line_error(*cli("info", "--task", "capitalz", "--model", "n14"), "unknown task 'capitalz'")
    _one_line_error(*cli("info", "--task", "capitals", "--model", "n14", "withheld=5,7"), "unknown setting")


def test_prompt_outside_the_vocabulary(tiny_run, cli):
    _one_line_error(*cli("sample", tiny_run, "--prompt", "<7*5="), "outside the vocabulary: '*'")
    _one_line_error(*cli("sample", tiny_run, "--prompt", "<7-5=", "--n", "0"), "--n 0 must be positive")


def test_missing_and_corrupt_runs(tiny_run, cli, tmp_path):
    _one_line_error(*cli("eval", tmp_path / "nowhere"), "no run directory")
    broken = tmp_path / "broken"
    broken.mkdir()
    _one_line_error(*cli("eval", broken), "missing run config")
    (broken / "config.json").write_text("{not json")
    _one_line_error(*cli("eval", broken), "corrupt run config")
    (broken / "config.json").write_text((tiny_run / "config.json").read_text())
    _one_line_error(*cli("eval", broken), "missing weights file")
    (broken / "model.safetensors").write_bytes((tiny_run / "model.safetensors").read_bytes()[:100])
    _one_line_error(*cli("eval", broken), "corrupt weights file")
    _one_line_error(*cli("sample", broken, "--prompt", "<1+1="), "corrupt weights file")
    (broken / "checkpoint.safetensors").write_bytes(b"\x00" * 64)
    _one_line_error(*cli("train", *TINY, "--steps", "60", "--out", broken, "--resume"), "corrupt checkpoint")


def test_existing_run_needs_resume_and_matching_settings(tiny_run, cli):
    _one_line_error(*cli("train", *TINY, "--steps", "60", "--out", tiny_run), "pass --resume")
    _one_line_error(*cli("train", *TINY, "--steps", "40", "--out", tiny_run, "--resume"),
                    "the run already has 60 steps")  # more steps would continue it (tests/integration/test_continue.py)
    _one_line_error(*cli("train", *TINY, "--steps", "60", "learning_rate=0.005", "--out", tiny_run, "--resume"),
                    "train.learning_rate")


def test_tasks_lists_the_registry(cli_json):
    tasks = cli_json("tasks")
    assert {"arithmetic", "capitals", "combined"} <= set(tasks)
    assert tasks["arithmetic"]["params"]["withheld"] == [[5, 7]]


def test_bench_reports_every_case(cli_json, monkeypatch):
    import memscope.bench as bench
    monkeypatch.setattr(bench, "STEP_CASES", [("arithmetic", "n14", 32), ("arithmetic", "mlt", 2)])
    monkeypatch.setattr(bench, "ENSEMBLE_KS", (1, 4))
    monkeypatch.setattr(bench, "ENSEMBLE_BATCHES", (16,))
    r = cli_json("-q", "bench", "--steps", "3", "--no-compile")
    assert [row["model"] for row in r["train_step"]] == ["n14", "mlt"]
    assert [row["k"] for row in r["ensembles"]] == [1, 4] and r["ensembles"][0]["vs_one_after_another"] == 1.0
    assert all(row["ms_per_step"] > 0 and 0 < row["share_of_peak"] < 1.5 for row in r["train_step"])
    assert r["machine"]["matmul_peak_gflops"] > 0 and r["eval_pass"][0]["s_per_eval"] > 0


def test_library_errors_name_arguments_and_the_cli_names_flags(tiny_run, cli):
    """A Python caller reads the argument it passed (n=0); the command line reads its flag (--n 0)."""
    from memscope.errors import MemscopeError
    from memscope.runs import eval_model, sample_run
    with pytest.raises(MemscopeError, match=r"^n=0 must be positive$"):
        sample_run(tiny_run, "<1+2=", n=0)
    with pytest.raises(MemscopeError, match=r"^n_samples=0 must be positive$"):
        eval_model(tiny_run, n_samples=0)
    code, out, err = cli("sample", tiny_run, "--prompt", "<1+2=", "--n", "0")
    assert code == 2 and err.strip() == "memscope: error: --n 0 must be positive"
    code, out, err = cli("eval", tiny_run, "--samples", "0")
    assert code == 2 and err.strip() == "memscope: error: --samples 0 must be positive"


def test_the_summary_text_takes_the_withheld_total_from_the_task(tmp_path, cli):
    """Two samples per prompt on the four withheld prompts: out of 8, never `40/40` (issue 17)."""
    code, out, _ = cli("-q", "train", *TINY, "--steps", "20", "--out", tmp_path / "run")
    assert code == 0 and "withheld       0/8  (never 8/8)" in out and "40/40" not in out
