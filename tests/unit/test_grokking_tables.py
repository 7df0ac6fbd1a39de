"""The grokking study's rules on made-up histories with known answers: per-run steps, and each claim."""
import pytest

from memscope.studies.grokking.tables import claims, run_figures, setting_row, tables_markdown


def history(train_at: int, held_at: int | None, steps: int = 1000, seed: int = 0) -> list[dict]:
    """Training accuracy saturates at train_at; held-out sits on the 50% plateau and jumps at held_at (never
    when None); memorized bits peak at train_at and fall to 5% by the jump; Fourier sparsity rises 200
    steps before the jump."""
    out = []
    for step in range(0, steps + 1, 50):
        grokked = held_at is not None and step >= held_at
        mem = 1000.0 * min(step, train_at) / train_at
        if held_at is not None and step > train_at:
            mem = 1000.0 - 950.0 * min(1.0, (step - train_at) / (held_at - train_at))
        out.append({"step": step, "train_greedy_acc": 1.0 if step >= train_at else step / train_at / 2,
                    "heldout_greedy_acc": 1.0 if grokked else (0.5 if step >= train_at else 0.1),
                    "memorized_bits": mem + seed, "capacity_utilization": mem / 1e5, "weight_norm": 20.0,
                    "fourier_top5_share": 0.9 if held_at is not None and step >= held_at - 200 else 0.36})
    return out


def test_run_figures_find_the_steps():
    r = run_figures(history(100, 600))
    assert (r["train_step"], r["heldout_step"], r["jump_step"], r["fourier_rise_step"]) == (100, 600, 600, 400)
    assert r["delay_ratio"] == 6.0 and r["peak_memorized_step"] == 100 and r["final_memorized_bits"] == 50.0
    never = run_figures(history(100, None))
    assert never["heldout_step"] is None and never["delay_ratio"] is None and never["jump_step"] is None


def _grid(held_at_by_wd: dict[float, int | None]):
    runs = {(wd, f): [{"name": f"wd{wd}-frac{f}-seed{s}",
                       **run_figures(history(100, None if h is None else h + 50 * s, seed=s))} for s in range(3)]
            for wd, h in held_at_by_wd.items() for f in (0.4, 0.5)}
    return {k: setting_row(v) for k, v in runs.items()}, runs


def test_claims_hold_on_a_textbook_grokking_grid():
    rows, runs = _grid({0.0: None, 0.3: 800, 1.0: 500})
    verdicts = claims(rows, runs, (0.0, 0.3, 1.0), (0.4, 0.5))
    assert [c.verdict for c in verdicts] == ["held"] * 4, verdicts
    assert [c.name for c in verdicts] == ["C1", "C2", "C3", "C4"]
    assert "3/3 seeds" in verdicts[0].evidence and "0/3 generalize" in verdicts[1].evidence
    # the deciding statistics: at wd 1.0 held-out at 500/550/600 after training at 100 (ratios 5, 5.5, 6);
    # wd 0 never (counted at the run's 1,000 steps) against wd 1.0's mean of 550; every run's bits fall;
    # Fourier leads the jump by 200 steps in every run
    c1, c2, c3, c4 = verdicts
    assert (c1.value, c1.threshold) == (pytest.approx(5.5), 2.0) and c1.interval[0] > 1.0
    assert c2.threshold == 0.0 and c2.value > 0 and c2.interval is None
    assert (c3.value, c3.threshold, c3.bounds) == (1.0, 1.0, (0.0, 1.0))
    assert (c4.value, c4.threshold) == (200.0, 0.0) and c4.interval == (200.0, 200.0)
    assert "| 1.0 | 0.5 | 3/3 |" in tables_markdown(rows)


def test_claims_fail_when_nothing_groks_or_weight_decay_does_not_matter():
    rows, runs = _grid({0.0: None, 0.3: None, 1.0: None})
    verdicts = claims(rows, runs, (0.0, 0.3, 1.0), (0.4, 0.5))
    assert [c.verdict for c in verdicts] == ["did not hold"] * 4
    assert verdicts[0].value is None and verdicts[2].value is None and verdicts[3].value is None
    rows, runs = _grid({0.0: 500, 0.3: 500, 1.0: 500})  # everyone groks alike: weight decay decides nothing
    verdicts = claims(rows, runs, (0.0, 0.3, 1.0), (0.4, 0.5))
    assert verdicts[0].held and not verdicts[1].held and verdicts[1].value < 0


def test_no_delay_is_not_grokking():
    rows, runs = _grid({0.0: None, 0.3: None, 1.0: 150})  # held-out right after training saturates
    c1 = claims(rows, runs, (0.0, 0.3, 1.0), (0.4, 0.5))[0]
    assert c1.verdict == "did not hold" and c1.value == pytest.approx(2.0) and c1.threshold == 2.0
    assert rows[(1.0, 0.4)]["delay_ratio"]["mean"] == pytest.approx((1.5 + 2.0 + 2.5) / 3)
