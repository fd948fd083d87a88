"""Comparison-setup classifier: every setup holds exactly where it should (hand-written tables)."""
import pytest

from prunebench.errors import PrunebenchError
from prunebench.fairness import CHAIN, SETUP_NAMES, compare_rows, required_columns, schedules_equal

FULL = {
    "name": "a",
    "dataset": "cifar10",
    "model": "resnet56",
    "macs": 62.7e6,
    "base": "f00d",
    "retrain_epochs": 120,
    "retrain_lr": "0:0.01,60:0.001,90:0.0001",
    "batch_size": 128,
    "weight_decay": 5e-4,
    "momentum": 0.9,
    "prune_epochs": 10,
    "prune_lr": "0:0.1",
    "total_epochs": 330,
    "total_compute": 2.0e10,
    "pruning_epoch": 200,
    "overall_lr": "0:0.1,100:0.01,150:0.001,210:0.01,270:0.001,300:0.0001",
}
ALL = ["S1", "S2", "S3.1", "S3.2", "S4.1", "S4.2", "SO", "SX-A", "SX-B"]

# Column changed in row b -> (setups that still hold, strictest). Written out by hand from paper §3.
ONE_CHANGE = {
    "dataset": ("cifar100", [], None),
    "model": ("resnet110", [], None),
    "macs": (40.0e6, [], None),
    "base": ("beef", ["S1", "SO", "SX-A", "SX-B"], "S1"),
    "retrain_epochs": (90, ["S1", "S2", "SO", "SX-A", "SX-B"], "S2"),
    "retrain_lr": ("0:0.001,80:0.0001", ["S1", "S2", "S3.1", "SO", "SX-A", "SX-B"], "S3.1"),
    "batch_size": (256, ["S1", "S2", "S3.1", "SX-A", "SX-B"], "S3.1"),
    "weight_decay": (1e-4, ["S1", "S2", "S3.1", "SX-A", "SX-B"], "S3.1"),
    "momentum": (0.0, ["S1", "S2", "S3.1", "SX-A", "SX-B"], "S3.1"),
    "prune_epochs": (30, ["S1", "S2", "S3.1", "S3.2", "SO", "SX-A", "SX-B"], "S3.2"),
    "prune_lr": ("0:0.01", ["S1", "S2", "S3.1", "S3.2", "S4.1", "SO", "SX-A", "SX-B"], "S4.1"),
    "total_epochs": (350, ["S1", "S2", "S3.1", "S3.2", "S4.1", "S4.2", "SX-B"], "S4.2"),
    "total_compute": (3.0e10, ["S1", "S2", "S3.1", "S3.2", "S4.1", "S4.2", "SO", "SX-A"], "S4.2"),
    "overall_lr": ("0:0.1", ["S1", "S2", "S3.1", "S3.2", "S4.1", "S4.2", "SX-A", "SX-B"], "S4.2"),
    # recorded and shown, but no setup compares the pruning epoch on its own (base names the snapshot)
    "pruning_epoch": (100, ALL, "S4.2"),
}

# Column missing in row b -> setups left unknown (all others hold).
ONE_MISSING = {
    "dataset": ALL,
    "model": ALL,
    "macs": ALL,
    "base": ["S2", "S3.1", "S3.2", "S4.1", "S4.2"],
    "retrain_epochs": ["S3.1", "S3.2", "S4.1", "S4.2"],
    "retrain_lr": ["S3.2", "S4.1", "S4.2"],
    "batch_size": ["S3.2", "S4.1", "S4.2", "SO"],
    "weight_decay": ["S3.2", "S4.1", "S4.2", "SO"],
    "momentum": ["S3.2", "S4.1", "S4.2", "SO"],
    "prune_epochs": ["S4.1", "S4.2"],
    "prune_lr": ["S4.2"],
    "total_epochs": ["SO", "SX-A"],
    "total_compute": ["SX-B"],
    "overall_lr": ["SO"],
    "pruning_epoch": [],
}


def row(**changes):
    out = dict(FULL, name="b")
    out.update(changes)
    return out


def test_identical_rows_meet_every_setup():
    result = compare_rows(FULL, row())
    assert result == {"a": "a", "b": "b", "holds": ALL, "strictest": "S4.2", "table4": "S4.2", "differs": [],
                      "unknown": [], "rate": "macs"}


@pytest.mark.parametrize("column", sorted(ONE_CHANGE))
def test_one_changed_column(column):
    value, holds, strictest = ONE_CHANGE[column]
    result = compare_rows(FULL, row(**{column: value}))
    assert result["holds"] == holds
    assert result["strictest"] == strictest
    assert result["differs"] == [column]
    assert result["unknown"] == []
    # Symmetric.
    back = compare_rows(row(**{column: value}), FULL)
    assert (back["holds"], back["differs"]) == (holds, [column])


@pytest.mark.parametrize("column", sorted(ONE_MISSING))
@pytest.mark.parametrize("missing", ["absent", None, "", "  "])
def test_one_missing_column_makes_its_setups_unknown(column, missing):
    b = row()
    if missing == "absent":
        del b[column]
    else:
        b[column] = missing
    result = compare_rows(FULL, b)
    assert result["unknown"] == ONE_MISSING[column]
    assert result["holds"] == [s for s in ALL if s not in ONE_MISSING[column]]
    assert result["differs"] == []
    # Missing in the other row counts the same.
    assert compare_rows(b, FULL)["unknown"] == ONE_MISSING[column]


def test_strictest_with_unknown_stops_below_it():
    # prune_lr missing: S4.2 unknown, so S4.1 is the strictest that is known to hold.
    assert compare_rows(FULL, row(prune_lr=None))["strictest"] == "S4.1"
    # base missing: only S1 is known.
    assert compare_rows(FULL, row(base=None))["strictest"] == "S1"


def test_a_difference_is_a_fact_that_missing_cells_do_not_make_unknown():
    # dataset differs: every setup fails, even those whose other columns are missing.
    result = compare_rows(FULL, row(dataset="mnist1d", base=None, total_compute=None))
    assert result["holds"] == [] and result["unknown"] == []
    assert result["differs"] == ["dataset"]
    # base differs, retrain_lr missing: S3.2 fails (not unknown), SX-A and SX-B still hold.
    result = compare_rows(FULL, row(base="beef", retrain_lr=None))
    assert result["unknown"] == []
    assert result["holds"] == ["S1", "SO", "SX-A", "SX-B"]


def test_several_differences_are_all_named_in_column_order():
    result = compare_rows(FULL, row(momentum=0.5, base="x", total_epochs=1))
    assert result["differs"] == ["base", "momentum", "total_epochs"]
    assert result["holds"] == ["S1", "SX-B"]


def test_sparse_rows_only_know_what_they_hold():
    a = {"name": "p", "dataset": "cifar10", "model": "vgg19", "macs": 100}
    b = {"name": "q", "dataset": "cifar10", "model": "vgg19", "macs": 101}
    result = compare_rows(a, b)
    assert result["holds"] == ["S1"]
    assert result["unknown"] == ["S2", "S3.1", "S3.2", "S4.1", "S4.2", "SO", "SX-A", "SX-B"]
    assert result["strictest"] == "S1"


@pytest.mark.parametrize(
    "column, a, b, equal",
    [
        ("macs", 100.0, 101.9, True),  # 1.9 % apart
        ("macs", 100.0, 102.1, False),  # 2.1 % apart
        ("total_compute", 1000.0, 981.0, True),  # 19 / 1000 = 1.9 %
        ("total_compute", 1000.0, 979.0, False),  # 21 / 1000 = 2.1 %
        ("weight_decay", 5e-4, 5.09e-4, True),
        ("weight_decay", 5e-4, 5.11e-4, False),
        # total_epochs is a count: exact, like every other epoch count (issue 11, item 8)
        ("total_epochs", 320, 326, False),
        ("total_epochs", 320, 321, False),
    ],
)
def test_relative_tolerance_edges(column, a, b, equal):
    ra, rb = row(name="a", **{column: a}), row(**{column: b})
    assert (column not in compare_rows(ra, rb)["differs"]) is equal
    assert (column not in compare_rows(rb, ra)["differs"]) is equal  # symmetric


def test_tolerance_is_a_parameter():
    assert compare_rows(row(name="a", macs=100), row(macs=102.1), tolerance=0.05)["differs"] == []
    assert compare_rows(row(name="a", macs=100), row(macs=100.001), tolerance=0)["differs"] == ["macs"]
    assert compare_rows(row(name="a", macs=0), row(macs=0), tolerance=0)["differs"] == []


def test_counts_are_exact_even_within_tolerance():
    # 121 vs 120 epochs is 0.8 % apart, but a different retraining budget.
    assert compare_rows(FULL, row(retrain_epochs=121))["differs"] == ["retrain_epochs"]
    assert compare_rows(FULL, row(batch_size=129))["differs"] == ["batch_size"]
    assert compare_rows(FULL, row(retrain_epochs="120", batch_size=128.0))["differs"] == []


@pytest.mark.parametrize(
    "a, b, equal",
    [
        ("0:0.1,30:0.01", "0:1e-1,30:1e-2", True),
        ("0:0.1, 30:0.01", "0:1e-1,30:1e-2", True),
        ("0:0.1,30:0.01", "0:0.1,40:0.01", False),
        ("0:0.1,30:0.01", "0:0.1,30:0.001", False),
        ("0:0.1,30:0.01", "0:0.1,30:0.01,60:0.001", False),
        ("cosine:0.01:0", "cosine:1e-2:0.0", True),
        ("cosine:0.01:0", "cosine:0.01:1e-5", False),
        ("cosine:0.01:0.0001", "0:0.01,60:0.0001", False),
        ("0:0.1,30:0.1", "0.1", True),
        ("0.001", "0:1e-3", True),
        ("cosine:0.1:0.1", "0.1", True),
    ],
)
def test_schedule_equivalence(a, b, equal):
    assert schedules_equal(a, b) is equal
    result = compare_rows(row(name="a", retrain_lr=a), row(retrain_lr=b))
    assert ("S3.2" in result["holds"]) is equal
    assert (result["differs"] == ["retrain_lr"]) is not equal


def test_extra_keys_in_code_rows_are_ignored():
    assert compare_rows(dict(FULL, accuracy=93.1), row(accuracy=91.0))["strictest"] == "S4.2"


def test_unnamed_rows_are_called_a_and_b():
    a, b = dict(FULL), row()
    del a["name"], b["name"]
    result = compare_rows(a, b)
    assert (result["a"], result["b"]) == ("a", "b")


@pytest.mark.parametrize(
    "column, value, words",
    [
        ("macs", "lots", ["'macs'", "bad number", "'b'"]),
        ("macs", -5, ["'macs'", ">= 0"]),
        ("retrain_epochs", 1.5, ["'retrain_epochs'", "whole number"]),
        ("retrain_lr", "0:0.1,x:0.01", ["'retrain_lr'", "'b'"]),
        ("momentum", True, ["'momentum'"]),
    ],
)
def test_bad_values_name_row_and_column(column, value, words):
    with pytest.raises(PrunebenchError) as err:
        compare_rows(FULL, row(**{column: value}))
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("tolerance", [-0.1, 1.0, float("nan"), "x", True])
def test_bad_tolerance(tolerance):
    with pytest.raises(PrunebenchError, match="tolerance"):
        compare_rows(FULL, row(), tolerance=tolerance)


def test_setup_table_shape():
    assert SETUP_NAMES == tuple(ALL)
    # Each chain member needs everything the previous one needs.
    for weaker, stricter in zip(CHAIN, CHAIN[1:]):
        assert set(required_columns(weaker)) < set(required_columns(stricter))
    assert required_columns("SX-B") == ("dataset", "model", "macs", "total_compute")
    with pytest.raises(PrunebenchError, match="valid: S1"):
        required_columns("S5")


def test_one_shot_pruning_stages_have_no_schedule_to_differ_in():
    # prunebench's own rows: 0 pruning-stage epochs and no pruning-stage schedule in both
    a, b = row(name="a", prune_epochs=0, prune_lr=None), row(prune_epochs=0, prune_lr=None)
    assert compare_rows(a, b)["strictest"] == "S4.2"
    # a stage of 10 epochs against one of 0: S4.1 fails; with a schedule missing S4.2 stays unknown
    result = compare_rows(row(name="a", prune_lr=None), b)
    assert result["strictest"] == "S3.2" and "prune_epochs" in result["differs"]


@pytest.mark.parametrize("holds, label", [
    (["S1", "SO", "SX-A", "SX-B"], "S4.2"),  # Table 4: same overall schedule as scratch
    (["S1", "SX-A"], "SX-A"),  # same total epochs, e.g. a raised retraining LR
    (["S1", "SX-B"], "SX-B"),  # squeezed: same total compute
    (["S1", "SX-A", "SX-B"], "SX-B"),  # squeezed to epoch 0: same epochs and same compute
    (["S1"], None),
])
def test_table4_labels(holds, label):
    from prunebench.fairness import table4_label

    assert table4_label(holds) == label


def test_overall_schedule_relation_holds_only_for_the_same_lr_sequence():
    # P10F30 vs scratch (paper-notes §9): different snapshot pruned, same overall schedule
    scratch = row(name="scratch", base="fresh-init", overall_lr="0:0.1,20:0.01,30:0.001", total_epochs=40)
    p10 = row(name="P10F30", base="ab12@epoch-10", overall_lr="0:1e-1,20:1e-2,30:1e-3", total_epochs=40)
    raised = row(name="P30F10-lr0.01", base="ab12@epoch-30", overall_lr="0:0.1,20:0.01,35:0.001", total_epochs=40,
                 total_compute=3.0e10)  # 30 dense epochs cost more than the pruned model's
    assert compare_rows(scratch, p10)["table4"] == "S4.2"
    assert compare_rows(scratch, raised)["table4"] == "SX-A"
    assert "S2" not in compare_rows(p10, raised)["holds"]  # two snapshots: not the same base model
