"""Cross-validation of retraining recipes (paper §4, rec. 3)."""
import pytest

from prunebench.errors import PrunebenchError
from prunebench.fairness import cross_validate_recipes, judge_cross_validation

L1 = {"name": "l1", "criterion": "l1", "prune": {"ratio": 0.5}, "retrain": {"lr": "0:0.01,60:0.001", "epochs": 120}}
TAYLOR = {"name": "taylor", "criterion": "taylor", "prune": {"ratio": 0.5}, "retrain": {"lr": "0:0.001", "epochs": 40}}


def test_four_arms_pair_each_pruning_with_each_recipe():
    arms = cross_validate_recipes(L1, TAYLOR)
    assert [a["name"] for a in arms] == ["l1+FT_l1", "l1+FT_taylor", "taylor+FT_l1", "taylor+FT_taylor"]
    by_name = {a["name"]: a for a in arms}
    assert by_name["l1+FT_taylor"] == {"criterion": "l1", "prune": {"ratio": 0.5}, "name": "l1+FT_taylor",
                                       "retrain": {"lr": "0:0.001", "epochs": 40}}
    assert by_name["taylor+FT_l1"]["criterion"] == "taylor"
    assert by_name["taylor+FT_l1"]["retrain"] == L1["retrain"]
    assert by_name["l1+FT_l1"]["retrain"] == L1["retrain"]


def test_arms_are_independent_copies():
    arms = cross_validate_recipes(L1, TAYLOR)
    arms[0]["retrain"]["epochs"] = 1
    arms[0]["prune"]["ratio"] = 0.9
    assert L1["retrain"]["epochs"] == 120 and L1["prune"]["ratio"] == 0.5
    assert arms[2]["retrain"]["epochs"] == 120  # taylor+FT_l1 has its own copy


@pytest.mark.parametrize(
    "a, b, match",
    [
        ({"name": "l1"}, TAYLOR, "'retrain' dict"),
        ({"name": "", "retrain": {}}, TAYLOR, "non-empty string 'name'"),
        ({"name": "a+FT_b", "retrain": {}}, TAYLOR, "must not contain"),
        (L1, dict(L1), "different names"),
        ("l1", TAYLOR, "must be a dict"),
    ],
)
def test_bad_arms(a, b, match):
    with pytest.raises(PrunebenchError, match=match):
        cross_validate_recipes(a, b)


def test_consistent_winner_earns_the_credit():
    results = {"l1+FT_l1": 93.5, "l1+FT_taylor": 92.0, "taylor+FT_l1": 93.25, "taylor+FT_taylor": 91.5}
    verdict = judge_cross_validation(results)
    assert verdict["methods"] == ["l1", "taylor"]
    assert verdict["by_recipe"]["l1"] == {"winner": "l1", "margin": pytest.approx(0.25)}
    assert verdict["by_recipe"]["taylor"] == {"winner": "l1", "margin": pytest.approx(0.5)}
    assert verdict["own_recipes"] == {"winner": "l1", "margin": pytest.approx(2.0)}
    assert verdict["consistent"] is True and verdict["winner"] == "l1"
    assert "l1 wins under both recipes" in verdict["verdict"]


def test_inconsistent_winner_means_interaction():
    # Each method wins with its own recipe: the original comparison (own recipes) favours taylor,
    # but under FT_l1 l1 is ahead.
    results = {"l1+FT_l1": 93.4, "l1+FT_taylor": 93.0, "taylor+FT_l1": 93.1, "taylor+FT_taylor": 93.5}
    verdict = judge_cross_validation(results)
    assert verdict["by_recipe"]["l1"]["winner"] == "l1"
    assert verdict["by_recipe"]["l1"]["margin"] == pytest.approx(0.3)
    assert verdict["by_recipe"]["taylor"]["winner"] == "taylor"
    assert verdict["by_recipe"]["taylor"]["margin"] == pytest.approx(-0.5)
    assert verdict["own_recipes"]["winner"] == "taylor"
    assert verdict["consistent"] is False and verdict["winner"] is None
    assert "interact" in verdict["verdict"]


def test_order_of_results_does_not_change_the_winner():
    results = {"taylor+FT_taylor": 91.5, "l1+FT_taylor": 92.0, "taylor+FT_l1": 93.25, "l1+FT_l1": 93.5}
    verdict = judge_cross_validation(results)
    assert verdict["methods"] == ["taylor", "l1"]
    assert verdict["winner"] == "l1"
    assert verdict["by_recipe"]["l1"]["margin"] == pytest.approx(-0.25)


def test_ties_earn_no_credit():
    results = {"l1+FT_l1": 93.0, "l1+FT_taylor": 92.0, "taylor+FT_l1": 93.0, "taylor+FT_taylor": 91.0}
    verdict = judge_cross_validation(results)
    assert verdict["by_recipe"]["l1"]["winner"] is None
    assert verdict["consistent"] is False and verdict["winner"] is None
    # A margin inside the tie band is a tie too.
    results["taylor+FT_l1"] = 92.9
    assert judge_cross_validation(results)["winner"] == "l1"
    assert judge_cross_validation(results, tie=0.2)["winner"] is None


@pytest.mark.parametrize(
    "results, match",
    [
        ({"l1+FT_l1": 1, "l1+FT_taylor": 1, "taylor+FT_l1": 1}, "exactly the four arms"),
        ({"l1+FT_l1": 1, "l1+FT_x": 1, "taylor+FT_l1": 1, "taylor+FT_taylor": 1}, "exactly the four arms"),
        ({"l1": 1}, "not METHOD"),
        ({"l1+FT_l1": None, "l1+FT_t": 1, "t+FT_l1": 1, "t+FT_t": 1}, "finite number"),
        ({"l1+FT_l1": float("nan"), "l1+FT_t": 1, "t+FT_l1": 1, "t+FT_t": 1}, "finite number"),
    ],
)
def test_bad_results(results, match):
    with pytest.raises(PrunebenchError, match=match):
        judge_cross_validation(results)


def test_round_trip_from_generated_arms():
    arms = cross_validate_recipes(L1, TAYLOR)
    accuracy = dict(zip((a["name"] for a in arms), (90.0, 89.0, 88.0, 87.0)))
    assert judge_cross_validation(accuracy)["winner"] == "l1"
