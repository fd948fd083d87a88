"""Paired comparisons: paired t-test, exact sign-flip permutation p, CIs, and when a design is paired."""
from __future__ import annotations

import math

import pytest
from scipy.stats import t as t_dist
from scipy.stats import ttest_ind, ttest_rel

from prunebench.report import aggregate
from prunebench.report.paired import compare_runs, paired_test, sign_flip_p, welch_comparison
from prunebench.report.tables import accuracy_table, detail_table, cell_text

# Four seeds. Arm accuracies a, reference b, per-seed differences d = a - b = 0.02, 0.03, 0.01, 0.03.
A = [0.92, 0.95, 0.91, 0.94]
B = [0.90, 0.92, 0.90, 0.91]


def test_paired_t_equals_the_hand_computation_and_scipy():
    c = paired_test(A, B)
    # mean(d) = 0.09 / 4 = 0.0225; deviations -0.0025, 0.0075, -0.0125, 0.0075; sum of squares 2.75e-4;
    # var = 2.75e-4 / 3, sd = 0.0095743; t = 0.0225 / (sd / 2) = 4.7001 on 3 degrees of freedom.
    sd = math.sqrt(2.75e-4 / 3)
    assert c.test == "paired" and c.n == 4
    assert c.diff == pytest.approx(0.0225)
    assert c.t == pytest.approx(0.0225 / (sd / 2)) and c.t == pytest.approx(4.7001, abs=1e-4)
    ref = ttest_rel(A, B)
    assert c.t == pytest.approx(ref.statistic) and c.p == pytest.approx(ref.pvalue)
    # 95% CI: 0.0225 +- t(0.975, 3) * sd / 2, t(0.975, 3) = 3.182446
    half = 3.182446 * sd / 2
    assert c.ci == pytest.approx((0.0225 - half, 0.0225 + half), abs=1e-6)


def test_sign_flip_p_by_enumerating_the_patterns_by_hand():
    # All four differences are positive: of the 16 sign patterns only +,+,+,+ and -,-,-,- reach
    # |sum| = 0.09, so p = 2/16. That is also the smallest p four seeds can give.
    assert sign_flip_p([0.02, 0.03, 0.01, 0.03]) == 2 / 16
    assert paired_test(A, B).p_perm == 2 / 16
    # d = 0.03, -0.01, 0.02 (sum 0.04). The 8 sums: +-0.06 (2), +-0.04 (2), +-0.02 (2), 0 (2):
    # |sum| >= 0.04 in 4 of 8 -> p = 0.5.
    assert sign_flip_p([0.03, -0.01, 0.02]) == 0.5
    # Two seeds can never reach p < 0.5.
    assert sign_flip_p([0.5, 0.4]) == 0.5
    # A zero difference: every pattern reaches |sum| >= 0 -> p = 1.
    assert sign_flip_p([0.0, 0.0, 0.0]) == 1.0


def test_paired_mark_follows_the_t_test_and_degenerate_cases():
    # t = 4.70 on 3 dof: two-sided p = 0.0182 (t table: t(0.99, 3) = 4.541, t(0.995, 3) = 5.841), significant;
    # the sign-flip p of these four seeds is 0.125, its floor.
    c = paired_test(A, B)
    assert 0.01 < c.p < 0.02 and c.p == pytest.approx(2 * t_dist.sf(c.t, 3)) and c.significant
    six = paired_test([0.6, 0.61, 0.62, 0.63, 0.64, 0.66], [0.5] * 6)
    assert six.p_perm == 2 / 64 and six.significant  # six seeds all improving: 2/64 = 0.03125
    noisy = paired_test([0.60, 0.50, 0.62], [0.55, 0.56, 0.57])  # d = 0.05, -0.06, 0.05
    # sum 0.04; the 8 sign patterns give |sum| 0.04, 0.06, 0.16, 0.06 (each twice): all >= 0.04, p = 1
    assert not noisy.significant and noisy.p_perm == 1.0
    same = paired_test([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])  # every seed +0.1: t undefined, sign-flip decides
    assert same.t is None and same.p == 0.25 and same.p_perm == 0.25 and same.diff == pytest.approx(0.1)
    one = paired_test([0.6], [0.5])
    assert one.p is None and "n >= 2" in one.reason
    with pytest.raises(ValueError):
        paired_test([0.1, 0.2], [0.3])


def test_welch_comparison_ci_from_welch_satterthwaite():
    a, b = [0.95, 0.96, 0.97], [0.90, 0.92, 0.94]
    c = welch_comparison(a, b)
    ref = ttest_ind(a, b, equal_var=False)
    assert c.test == "welch" and c.p == pytest.approx(ref.pvalue) and c.t == pytest.approx(ref.statistic)
    # var a = 1e-4, var b = 4e-4; se^2 = 5e-4/3; df = se^4 / ((1e-4/3)^2/2 + (4e-4/3)^2/2) = 2.9412
    se2 = 5e-4 / 3
    df = se2 ** 2 / ((1e-4 / 3) ** 2 / 2 + (4e-4 / 3) ** 2 / 2)
    assert df == pytest.approx(2.9412, abs=1e-4)
    half = t_dist.ppf(0.975, df) * math.sqrt(se2)
    assert c.diff == pytest.approx(0.04) and c.ci == pytest.approx((0.04 - half, 0.04 + half))


def _rows(arm, accs, bases):
    return [{"run_id": f"{arm}{s}", "arm": arm, "ratio": 0.5, "seed": s, "status": "done", "test_acc": a,
             "base": b} for s, (a, b) in enumerate(zip(accs, bases))]


def test_shared_bases_make_a_paired_design_fresh_or_different_bases_do_not():
    shared = ["b0", "b1", "b2", "b3"]
    paired = compare_runs(_rows("x", A, shared), _rows("r", B, shared))
    assert paired.test == "paired" and paired.p_perm == 2 / 16
    other = compare_runs(_rows("x", A, ["c0", "c1", "c2", "c3"]), _rows("r", B, shared))
    assert other.test == "welch" and other.p == pytest.approx(ttest_ind(A, B, equal_var=False).pvalue)
    fresh = compare_runs(_rows("x", A, ["fresh-init"] * 4), _rows("r", B, ["fresh-init"] * 4))
    assert fresh.test == "welch"


def test_report_table_footnote_names_the_test_and_the_details_show_diff_and_ci():
    shared = ["b0", "b1", "b2", "b3"]
    agg = aggregate(_rows("x", A, shared) + _rows("ref", B, shared), "ref")
    notes = " ".join(accuracy_table(agg).footnotes)
    assert "sign-flip permutation" in notes and "same base model" in notes and "Welch" not in notes
    cell = cell_text(detail_table(agg).rows[1].cells[-1])
    assert cell.startswith("vs ref: +2.25 pts [") and "sign-flip p=0.125" in cell and "t-test p=0.0182" in cell
    unpaired = aggregate(_rows("x", A, ["c0", "c1", "c2", "c3"]) + _rows("ref", B, shared), "ref")
    notes = " ".join(accuracy_table(unpaired).footnotes)
    assert "Welch's unpaired t-test" in notes and "sign-flip" not in notes


def test_grouped_references_compare_each_arm_with_its_own_group():
    shared = ["b0", "b1", "b2", "b3"]
    rows = (_rows("l1/lr0.1", B, shared) + _rows("taylor/lr0.1", A, shared)
            + _rows("l1/lr0.01", [0.5] * 4, shared) + _rows("taylor/lr0.01", [0.6, 0.61, 0.62, 0.63], shared))
    refs = {"l1/lr0.1": "l1/lr0.1", "taylor/lr0.1": "l1/lr0.1", "l1/lr0.01": "l1/lr0.01", "taylor/lr0.01": "l1/lr0.01"}
    agg = aggregate(rows, "l1/lr0.1", refs)
    assert agg.arms == ("l1/lr0.1", "taylor/lr0.1", "l1/lr0.01", "taylor/lr0.01")
    assert agg.get("l1/lr0.01", 0.5).comparison is None  # a group's reference is not tested
    low = agg.get("taylor/lr0.01", 0.5)
    assert low.reference == "l1/lr0.01" and low.comparison.diff == pytest.approx(0.115)
    assert agg.get("taylor/lr0.1", 0.5).comparison.diff == pytest.approx(0.0225)
