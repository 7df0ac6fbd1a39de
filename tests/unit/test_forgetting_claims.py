"""The forgetting study's claim rules on synthetic runs whose answers are known (no training)."""
import pytest

from memscope.studies.forgetting.tables import claims

DS = [1, 2, 4, 8, 16, 32]


def _canaries(exposure_of_d, held=1.4):
    return {"held_out_exposure_bits": held, "held_out_extracted": 0.0,
            "excess_all_bits": sum(exposure_of_d(d) - held for d in DS) / len(DS),
            "by_d": {d: {"exposure_bits": exposure_of_d(d), "excess_bits": exposure_of_d(d) - held,
                         "extracted": 0.0, "memorized_bits": 0.0} for d in DS}}


def _results(gain, keep_by_r, noise=(0.0, 0.1, -0.1)):
    """Sizes s0 < s1; exposure = 1.4 + gain[size] * log2(2d) (+ seed noise); phase 2 keeps keep_by_r[r] of
    the excess (more for often-seen canaries); facts drop to 0 and arithmetic keeps 0.9."""
    points = []
    for size, g in gain.items():
        for r, keep in keep_by_r.items():
            for seed, eps in enumerate(noise):
                def before(d, g=g, eps=eps):
                    return 1.4 + g * (d.bit_length()) + eps

                def after(d, keep=keep, g=g, eps=eps):
                    frac = keep * (1.0 if d >= 16 else 0.5)
                    return 1.4 + frac * (before(d) - 1.4)
                points.append({"size": size, "replay": r, "seed": seed,
                               "after_phase1": {"canaries": _canaries(before), "facts": 0.8, "facts_held_out": 0.0,
                                                "arithmetic": 0.8},
                               "end": {"canaries": _canaries(after), "facts": 0.0, "facts_held_out": 0.0,
                                       "arithmetic": 0.72, "new_facts": 0.5}})
    return {"sizes": list(gain), "ds": DS, "shares": sorted(keep_by_r), "seeds_run": [0, 1, 2], "points": points}


def test_a_world_where_every_claim_is_true_holds_them_all():
    out = {c.name: c.verdict for c in claims(_results({"s0": 0.5, "s1": 1.0}, {0.0: 0.2, 0.01: 0.4, 0.25: 0.9}))}
    assert out == {k: "held" for k in ("duplication", "few", "size", "forget", "replay", "replay1", "rare", "skill")} | {
        "size_forget": "did not hold"}  # the same retained share for both sizes


def test_a_world_without_memory_or_replay_effect_holds_none():
    out = {c.name: c.verdict for c in claims(_results({"s0": 0.0, "s1": 0.0}, {0.0: 1.0, 0.25: 1.0}))}
    assert out["duplication"] == out["few"] == out["size"] == out["forget"] == out["replay"] == "did not hold"
    assert out["rare"] == "not established"  # nothing memorized: retention undefined


def test_a_single_seed_is_not_testable():
    r = _results({"s0": 0.5, "s1": 1.0}, {0.0: 0.2, 0.25: 0.9}, noise=(0.0,))
    r["seeds_run"] = [0]
    out = claims(r)
    assert {c.verdict for c in out} == {"not established"}
    assert all(c.interval is None and c.interval_method == "none" for c in out)


def test_each_claim_turns_on_the_size_least_on_the_claimed_side():
    out = {c.name: c for c in claims(_results({"s0": 0.5, "s1": 1.0}, {0.0: 0.2, 0.01: 0.4, 0.25: 0.9}))}
    dup = out["duplication"]  # exposure slope: 0.5 bits per doubling for s0, 1.0 for s1
    assert dup.statistic.startswith("mean per-seed slope") and ", s0 (of the 2 sizes" in dup.statistic
    assert dup.value == pytest.approx(0.5) and dup.threshold == 0.0 and dup.bounds is None
    assert dup.interval[0] > 0 and dup.interval_method == "95% t interval over seeds"
    forget = out["forget"]  # keeps a fifth of the excess at r = 0: the larger size loses more
    assert forget.verdict == "held" and forget.interval[1] < 0 and ", s0 (" in forget.statistic
    assert out["size"].statistic.endswith("s1 - s0") and out["size"].value > 0
    assert "Carlini et al. 2019" in dup.evidence and dup.evidence.startswith("s0: 0.50")
