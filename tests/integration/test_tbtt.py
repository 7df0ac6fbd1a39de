"""memscope reproduce tbtt: tables and claims from known summaries; a reduced reproduction end to end."""

import pytest

from memscope.studies.tbtt.recipe import PROFILES, SCHEDULE_KEYS, Profile, build_specs, build_tables, claims, \
    tables_markdown
from memscope.studies.tbtt.tables import RULES, generalizes


def _summary(best: dict, first_withheld=None, final_withheld=None):
    best = {"withheld_total": 40, **best}
    return {"best": best, "first_withheld_step": first_withheld,
            "withheld_correct": final_withheld if final_withheld is not None else best.get("withheld_correct")}


def _paper_like():
    """Three seeds that behave as the paper says, but one n14 seed that never reaches 40/40."""
    s = {}
    for seed, (ever, w) in enumerate([(3000, 40), (None, 30), (4000, 40)]):
        s[f"arithmetic-n14-seed{seed}"] = _summary({"add_acc": 1.0, "sub_acc": 0.9, "withheld_correct": w}, ever,
                                                   final_withheld=30 if seed == 2 else None)
        s[f"arithmetic-n28-seed{seed}"] = _summary({"add_acc": 1.0, "sub_acc": 1.0, "withheld_correct": 0})
        s[f"capitals-n14-seed{seed}"] = _summary({"facts_acc": 0.06 + 0.02 * seed})
        s[f"capitals-n28-seed{seed}"] = _summary({"facts_acc": 1.0})
        for m in ("n14", "n28"):
            s[f"combined-{m}-seed{seed}"] = _summary({"add_acc": 0.3, "sub_acc": 0.4, "facts_acc": 0.1,
                                                      "combined_acc": 0.3, "withheld_correct": 10})
    return s


def test_tables_are_means_over_seeds_with_the_withheld_counts():
    t = build_tables(_paper_like(), ("n14", "n28"), 3)
    w = t["arithmetic"]["n14"]["withheld_correct"]
    assert w["mean"] == pytest.approx(110 / 3) and w["seeds_40_at_best"] == 2 and w["seeds_40_ever"] == 2
    assert w["final"] == [40, 30, 30] and w["seeds_40_final"] == 1
    # the 95% t interval of (40, 30, 40): mean 36.67 ± t(2) 4.303 * sd 5.774 / sqrt(3) = ± 14.34
    assert w["ci95"] == pytest.approx([110 / 3 - 14.343, 110 / 3 + 14.343], abs=1e-3)
    caps = t["capitals"]["n14"]["facts_acc"]
    assert caps["mean"] == pytest.approx(0.08) and caps["sd"] == pytest.approx(0.02)
    md = tables_markdown(t, 3)
    assert "### Table 2: arithmetic" in md
    assert "| n14 | 100.0 ± 0.0 | 90.0 ± 0.0 | 36.7/40 [22.3, 51.0] (40/40 at best: **2 of 3**; ever 2, final 1)" in md
    assert "| n28 | 100.0 ± 0.0 |" in md and "8.2" in md  # the paper's n14 capitals figure beside ours


def test_claims_hold_or_fail_on_the_numbers():
    verdicts = {c.statement: c.held for c in claims(build_tables(_paper_like(), ("n14", "n28"), 3))}
    assert all(verdicts.values()) and len(verdicts) == 5
    s = _paper_like()
    for seed in range(3):  # n28 now memorizes nothing and generalizes once
        s[f"capitals-n28-seed{seed}"] = _summary({"facts_acc": 0.2})
    s["arithmetic-n28-seed1"] = _summary({"add_acc": 1.0, "sub_acc": 1.0, "withheld_correct": 40}, 2000)
    verdicts = {c.statement: c.held for c in claims(build_tables(s, ("n14", "n28"), 3))}
    assert not verdicts["n28 and larger memorize the capitals"]
    assert verdicts["n28 and larger fail the withheld pairs"]  # one seed of three is no majority
    assert verdicts["n14 fails to memorize the capitals"]
    s["arithmetic-n28-seed2"] = _summary({"add_acc": 1.0, "sub_acc": 1.0, "withheld_correct": 40}, 2500)
    verdicts = {c.statement: c.held for c in claims(build_tables(s, ("n14", "n28"), 3))}
    assert not verdicts["n28 and larger fail the withheld pairs"]  # two of three now are


def test_every_size_is_judged_on_the_best_checkpoint_alone():
    """Where "ever at 40/40" and "at 40/40 at the best checkpoint" disagree, the verdict follows the best
    checkpoint, for n14 and for the larger sizes alike: the rule is one statistic for every size."""
    s = _paper_like()
    for seed in range(3):  # n14: 40/40 at some evaluation in every seed, never at the best checkpoint
        s[f"arithmetic-n14-seed{seed}"] = _summary({"add_acc": 1.0, "sub_acc": 1.0, "withheld_correct": 30},
                                                   1000 + seed, final_withheld=40)
        # n28: at 40/40 at the best checkpoint in every seed, though "ever" is recorded as never
        s[f"arithmetic-n28-seed{seed}"] = _summary({"add_acc": 1.0, "sub_acc": 1.0, "withheld_correct": 40})
        s[f"combined-n28-seed{seed}"] = _summary({"add_acc": 1, "sub_acc": 1, "facts_acc": 1, "combined_acc": 1,
                                                  "withheld_correct": 0}, 500, final_withheld=40)
    t = build_tables(s, ("n14", "n28"), 3)
    n14, n28 = t["arithmetic"]["n14"]["withheld_correct"], t["arithmetic"]["n28"]["withheld_correct"]
    assert (n14["seeds_40_ever"], n14["seeds_40_final"], n14["seeds_40_at_best"]) == (3, 3, 0)
    assert (n28["seeds_40_ever"], n28["seeds_40_at_best"]) == (0, 3)
    assert not generalizes(n14) and generalizes(n28)
    verdicts = {c.statement: c.to_dict() for c in claims(t)}
    assert verdicts["n14 generalizes to the withheld pairs (all samples right)"]["verdict"] == "did not hold"
    assert verdicts["n28 and larger fail the withheld pairs"]["verdict"] == "did not hold"
    assert verdicts["joint training (combined) generalizes for no size"]["verdict"] == "held"  # ever/final never decide
    for c in verdicts.values():
        assert c["rule"] == RULES[c["statement"]]
    n14_claim = verdicts["n14 generalizes to the withheld pairs (all samples right)"]
    assert (n14_claim["value"], n14_claim["threshold"], n14_claim["bounds"]) == (0.0, 0.5, [0.0, 1.0])
    assert "best checkpoint" in verdicts["n14 generalizes to the withheld pairs (all samples right)"]["rule"]
    assert "secondary, not deciding: 3 of 3 ever at 40/40, 3 at the end" in \
        verdicts["n14 generalizes to the withheld pairs (all samples right)"]["evidence"]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_size_trains_on_the_same_schedule(name):
    specs = dict(build_specs(PROFILES[name], 1, None))
    for task in ("arithmetic", "capitals", "combined"):
        trains = {m: specs[f"{task}-{m}-seed0"].train for m in PROFILES[name].models}
        sched = {m: (t.steps, t.warmup_steps, t.lr_decay_steps, t.batch_size, t.eval_interval, t.eval_samples)
                 for m, t in trains.items()}
        assert len(set(sched.values())) == 1, sched


def test_a_profile_cannot_give_one_size_its_own_schedule():
    assert "steps" in SCHEDULE_KEYS
    with pytest.raises(ValueError, match="every size trains on the same schedule"):
        Profile(("n14", "n28"), 1, model_settings={"n28": {"steps": "100"}})


def test_profiles_build_the_grid_with_another_withheld_pair():
    specs = build_specs(PROFILES["quick"], 3, "2,3")
    assert len(specs) == 27
    by_name = dict(specs)
    assert by_name["arithmetic-n56-seed2"].task_params["withheld"] == ((2, 3),)
    assert by_name["combined-n14-seed0"].task_params["withheld"] == ((2, 3),)
    assert by_name["capitals-n28-seed1"].train.batch_size == 128
    assert by_name["arithmetic-n14-seed0"].train.batch_size == 441
    n56, n14 = by_name["arithmetic-n56-seed0"].train, by_name["capitals-n14-seed0"].train
    assert (n56.steps, n56.warmup_steps, n56.lr_decay_steps) == (6000, 600, 6000)
    assert (n14.steps, n14.warmup_steps, n14.lr_decay_steps) == (4000, 400, 4000)


def test_unknown_profile_is_bad_input(cli, tmp_path):
    code, _, err = cli("reproduce", "tbtt", "--profile", "quik", "--out", tmp_path / "t")
    assert code == 2 and "unknown profile of study 'tbtt' 'quik'; known: quick, tiny, paper; did you mean 'quick'?" in err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_builds_its_grid(name):
    specs = build_specs(PROFILES[name], 1, None)
    assert len(specs) == 3 * len(PROFILES[name].models) and PROFILES[name].note


def test_runs_of_another_schedule_are_refused_before_anything_trains(cli, tmp_path, monkeypatch):
    """A store left by the old quick schedule (n14 at 8,000 steps) is not read as the new one, and is
    refused before the time estimate (which trains timed steps) starts."""
    from memscope import store
    from memscope.studies.tbtt import recipe

    def no_estimate(*a, **k):
        raise AssertionError("the estimate ran before the stale store was refused")
    monkeypatch.setattr(recipe.Tbtt, "estimate_s", no_estimate)
    from memscope.train import build_run_config
    old = build_run_config("arithmetic", "n14", {"steps": "8000", "batch_size": "441", "seed": "0"})
    (tmp_path / "runs" / "arithmetic-n14-seed0").mkdir(parents=True)
    store.write_json(tmp_path / "runs" / "arithmetic-n14-seed0" / store.CONFIG, old.to_dict())
    code, _, err = cli("reproduce", "tbtt", "--profile", "quick", "--out", tmp_path)
    assert code == 2 and "holds a run with other settings" in err and "steps" in err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["arithmetic-n14-seed0"]
