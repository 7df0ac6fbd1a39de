"""measure/stats.py: known answers for the mean, the sample sd and the t interval."""
import math

import pytest

from memscope.measure.stats import mean_sd, t_interval, t_quantile


def test_mean_and_sample_sd():
    assert mean_sd([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) == pytest.approx((5.0, math.sqrt(32 / 7)))
    assert mean_sd([3.0]) == (3.0, None)  # one value: no spread
    with pytest.raises(ValueError):
        mean_sd([])


def test_t_quantiles_from_the_table():
    assert t_quantile(1) == pytest.approx(12.706, abs=1e-3)
    assert t_quantile(4) == pytest.approx(2.776, abs=1e-3)
    assert t_quantile(10, confidence=0.99) == pytest.approx(3.169, abs=1e-3)
    with pytest.raises(ValueError):
        t_quantile(0)


def test_t_interval_of_five_values():
    # mean 3, sd sqrt(2.5), t_{0.975,4} = 2.776445: half-width 2.776445 * sqrt(2.5 / 5) = 1.963243
    lo, hi = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (lo, hi) == pytest.approx((3 - 1.963243, 3 + 1.963243), abs=1e-6)
    assert t_interval([1.0]) is None
    assert t_interval([2.0, 2.0, 2.0]) == pytest.approx((2.0, 2.0))
