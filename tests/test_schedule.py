import pytest

from prunebench import schedule as s
from prunebench.errors import ConfigError


@pytest.mark.parametrize(
    "lr, epochs, expected",
    [  # the three worked examples printed in Wang et al. (2023)
        (1e-1, 90, "0:1e-1,30:1e-2,60:1e-3,75:1e-4,83:1e-5"),
        (1e-2, 60, "0:1e-2,30:1e-3,45:1e-4,53:1e-5"),
        (1e-4, 30, "0:1e-4,15:1e-5"),
    ],
)
def test_derive_reproduces_the_papers_worked_examples(lr, epochs, expected):
    assert s.derive(lr, 1e-5, epochs) == expected


def test_step_schedule_takes_the_largest_key_not_above_the_epoch():
    sched = s.parse("0:0.1,30:0.01,60:0.001")
    lrs = sched.lrs(70)
    assert lrs[0] == lrs[29] == 0.1
    assert lrs[30] == lrs[59] == 0.01
    assert lrs[60] == lrs[69] == 0.001
    assert sched.first_stage_epochs(70) == 30
    assert sched.decay_epochs(70) == [30, 60]
    assert sched.decay_epochs(45) == [30]


def test_cosine_runs_from_start_to_end():
    lrs = s.parse("cosine:0.1:0.001").lrs(5)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[-1] == pytest.approx(0.001)
    assert lrs[2] == pytest.approx((0.1 + 0.001) / 2)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_normalised_strings_are_equal_for_equal_schedules():
    assert s.normalize("0:0.1, 30:0.01") == s.normalize("0:1e-1,30:1e-2") == "0:1e-1,30:1e-2"
    assert s.normalize(0.01) == "0:1e-2"


def test_extend_first_stage_moves_every_later_boundary():
    assert s.extend_first_stage("0:1e-4,15:1e-5", 10) == "0:1e-4,25:1e-5"
    assert s.extend_first_stage("0:0.001,80:0.0001", 0) == "0:1e-3,80:1e-4"


def test_tail_replays_the_rest_of_a_schedule():
    assert str(s.parse("0:0.1,30:0.01,60:0.001").tail(45)) == "0:1e-2,15:1e-3"
    assert str(s.parse("0:0.1,30:0.01").tail(0)) == "0:1e-1,30:1e-2"


@pytest.mark.parametrize(
    "bad, words",
    [
        ("", "non-empty"),
        ("5:0.1", "start at epoch 0"),
        ("0:0.1,0:0.01", "increase"),
        ("0:0.1,x:0.01", "not an integer"),
        ("0:-0.1", ">= 0"),
        ("0:abc", "bad LR"),
        ("cosine:0.1", "cosine:START:END"),
        ("0:nan", "finite"),
    ],
)
def test_malformed_schedules_name_the_problem(bad, words):
    with pytest.raises(ConfigError, match=words):
        s.parse(bad)


def test_derive_rejects_impossible_requests():
    with pytest.raises(ConfigError, match="cannot hold"):
        s.derive(0.1, 1e-5, 3)
    with pytest.raises(ConfigError, match="above"):
        s.derive(1e-5, 0.1, 30)


def test_derive_rejects_non_finite_lrs_and_empty_stages():
    import math

    for lr in (math.inf, math.nan):
        with pytest.raises(ConfigError, match="finite"):
            s.derive(lr, 1e-5, 30)
    with pytest.raises(ConfigError, match="longest stage"):
        s.derive(0.1, 1e-5, 30, max_stage=0)
