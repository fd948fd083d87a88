"""Report: aggregation, Welch test, the table model and its four renderings (synthetic rows only)."""
from __future__ import annotations

import math

import pytest
from scipy.stats import ttest_ind

from prunebench.report import aggregate, accuracy_table, detail_table, to_csv, to_html, to_latex, to_markdown
from prunebench.report.aggregate import ReportError, Stat, welch_test
from prunebench.report.tables import cell_text


def run(arm, ratio, seed, acc, status="done", **kw):
    row = {"run_id": f"{arm}-{ratio}-{seed}", "arm": arm, "ratio": ratio, "seed": seed, "status": status,
           "error": None, "test_acc": acc if status == "done" else None, "val_acc": None, "ta_train": None,
           "ta_test": None, "jsv_mean_start": None, "jsv_mean_end": None, "converged_at_first_decay": None,
           "params": None, "macs": None, "dense_params": None, "dense_macs": None, "sparsity": None,
           "speedup": None, "epochs": None, "lr_schedule": None, "regime": None, "reinit": None,
           "criterion": None, "history": []}
    row.update(kw)
    return row


def rows_two_arms():
    # scratch: 0.90, 0.92, 0.94 -> mean 0.92, std 0.02 ; l1: 0.95, 0.96, 0.97 -> mean 0.96, std 0.01
    out = [run("scratch", 0.5, s, a) for s, a in enumerate([0.90, 0.92, 0.94])]
    out += [run("l1", 0.5, s, a) for s, a in enumerate([0.95, 0.96, 0.97])]
    # ratio 0.7: l1 is a single run, scratch two runs with equal accuracy
    out += [run("scratch", 0.7, 0, 0.80), run("scratch", 0.7, 1, 0.80), run("l1", 0.7, 0, 0.70)]
    return out


def test_stat_mean_sample_std_and_n():
    s = Stat.of([0.90, 0.92, 0.94])
    assert s.n == 3 and s.mean == pytest.approx(0.92) and s.std == pytest.approx(0.02)
    one = Stat.of([0.5])
    assert one.n == 1 and one.mean == 0.5 and one.std is None
    assert Stat.of([]) == Stat(None, None, 0)


def test_aggregate_groups_orders_reference_first_and_tests_against_it():
    agg = aggregate(rows_two_arms(), "scratch")
    assert agg.arms == ("scratch", "l1") and agg.ratios == (0.5, 0.7)
    g = agg.get("l1", 0.5)
    assert g.stat("test_acc").mean == pytest.approx(0.96) and g.stat("test_acc").std == pytest.approx(0.01)
    expected = ttest_ind([0.95, 0.96, 0.97], [0.90, 0.92, 0.94], equal_var=False)
    assert g.welch.p == pytest.approx(expected.pvalue) and g.welch.t == pytest.approx(expected.statistic)
    # t = 0.04 / sqrt(0.0001/3 + 0.0004/3) = 3.098 with ~2.9 dof -> p ~ 0.055: not significant at 0.05
    assert g.welch.t == pytest.approx(0.04 / math.sqrt(0.0005 / 3))
    assert not g.welch.significant
    assert agg.get("scratch", 0.5).welch is None
    low = agg.get("l1", 0.7).welch
    assert low.p is None and "n >= 2" in low.reason and "n=1 vs n=2" in low.reason


def test_welch_significant_and_degenerate_cases():
    assert welch_test([0.5, 0.51, 0.52], [0.9, 0.91, 0.92]).significant
    assert welch_test([0.5, 0.5], [0.6, 0.6]).reason == "both arms have zero variance"
    assert welch_test([0.5], [0.6, 0.7]).p is None


def test_only_done_runs_count_and_failures_are_counted():
    rows = [run("scratch", 0.5, 0, 0.9), run("scratch", 0.5, 1, None, status="diverged", test_acc=0.1),
            run("scratch", 0.5, 2, None, status="failed", error="boom"),
            run("scratch", 0.5, 3, None, status="pending")]
    g = aggregate(rows, "scratch").get("scratch", 0.5)
    assert (g.n_runs, g.n_done, g.n_diverged, g.n_failed, g.n_unfinished) == (4, 1, 1, 1, 1)
    assert g.stat("test_acc").mean == 0.9 and g.stat("test_acc").n == 1


def test_ratio_float_noise_is_one_column():
    rows = [run("a", 0.7, 0, 0.5), run("a", 0.1 * 7, 1, 0.7)]
    agg = aggregate(rows, "a")
    assert agg.ratios == (0.7,) and agg.get("a", 0.7).stat("test_acc").n == 2


def test_missing_field_is_a_report_error():
    with pytest.raises(ReportError, match="no 'status'"):
        aggregate([{"run_id": "x", "arm": "a", "ratio": 0.5}], "a")


def test_accuracy_table_cells_bold_and_dagger():
    rows = rows_two_arms() + [run("l1", 0.5, 3, 0.96)]  # l1 @0.5 now 4 runs: 0.95..0.97, clearly better
    rows = [r for r in rows if not (r["arm"] == "scratch" and r["ratio"] == 0.5)]
    rows += [run("scratch", 0.5, s, a) for s, a in enumerate([0.90, 0.901, 0.902])]
    t = accuracy_table(aggregate(rows, "scratch"))
    assert t.columns == ("ratio 0.5", "ratio 0.7")
    assert [r.label for r in t.rows] == ["sparsity / speedup (MACs)", "scratch (reference)", "l1"]
    l1 = t.rows[2].cells
    assert l1[0].bold and l1[0].mark and l1[0].n == 4
    assert cell_text(l1[0]) == "96.00 ± 0.82† (n=4)"
    assert cell_text(l1[1]) == "70.00 ± n/a (n=1)"  # single seed: no std, said so
    assert t.rows[1].cells[1].bold and not l1[1].bold  # 80 beats 70 at ratio 0.7


def test_four_renderings_agree():
    paper = {"l1": {"0.5": 93.43, "0.7": None}, "gal": {0.5: 90.0}}  # None: not published; gal: not run here
    t = accuracy_table(aggregate(rows_two_arms(), "scratch"), paper=paper)
    md, html, tex, csv = to_markdown(t), to_html(t), to_latex(t), to_csv([t])
    assert "| l1 | **96.00 ± 1.00** (n=3) |" in md
    assert "<strong>96.00 ± 1.00</strong> (n=3)" in html
    assert r"\textbf{96.00 $\pm$ 1.00} (n=3)" in tex and r"\toprule" in tex and r"\bottomrule" in tex
    assert "accuracy,l1,ours,ratio 0.5,96.00 ± 1.00 (n=3),96.0" in csv
    # published numbers sit under our arm, mean only, never bold
    paper_row = [r for r in t.rows if r.kind == "paper"][0]
    assert paper_row.label == "paper: l1" and cell_text(paper_row.cells[0]) == "93.43"
    assert cell_text(paper_row.cells[1]) == "–" and t.rows[-1].label == "paper: gal"
    assert "paper: l1" in md and "paper: l1" in html and "paper: l1" in tex


def test_latex_escapes_names():
    t = accuracy_table(aggregate([run("l1_lr0.01 & more", 0.5, 0, 0.9)], "l1_lr0.01 & more"))
    assert r"l1\_lr0.01 \& more" in to_latex(t)


def test_detail_table_lists_every_metric():
    rows = [run("a", 0.5, s, acc, ta_train=ta, jsv_mean_start=0.5, jsv_mean_end=js, params=1000, macs=5000,
                sparsity=0.25, speedup=2.0, epochs=10) for s, acc, ta, js in [(0, 0.8, 0.9, 1.0), (1, 0.9, 0.95, 2.0)]]
    t = detail_table(aggregate(rows, "a"))
    cells = dict(zip(t.columns, t.rows[0].cells))
    assert cell_text(cells["test acc (%)"]) == "85.00 ± 7.07"
    assert cell_text(cells["TA train (%)"]) == "92.50 ± 3.54"
    assert cell_text(cells["JSV end"]) == "1.5000 ± 0.7071"
    assert cell_text(cells["params"]) == "1000" and cell_text(cells["sparsity (%)"]) == "25.0 ± 0.0"
    assert cell_text(cells["vs reference"]) == "reference"


# -- figures: where the arms are drawn (the matplotlib artists of the returned figure) ------------------

def one_ratio_rows(ratios=(0.5,)):
    """Four arms, three seeds each, at every ratio: arm k's seeds score 0.80 + 0.02k + {0, 0.01, 0.02}."""
    arms = ["ref", "a", "b", "c"]
    return [run(arm, ratio, s, 0.80 + 0.02 * k + 0.01 * s, ta_train=0.7 + 0.01 * k, ta_test=0.6 + 0.01 * k)
            for ratio in ratios for k, arm in enumerate(arms) for s in range(3)]


def drawn_xs(ax) -> dict[str, list[float]]:
    """x of every data point an arm's errorbar line or bars put on one axes, by legend label."""
    from matplotlib.container import BarContainer, ErrorbarContainer

    out: dict[str, list[float]] = {}
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer) and c.lines[0] is not None:  # bars' error bars have no line
            xs = list(c.lines[0].get_xdata())
        elif isinstance(c, BarContainer):
            xs = [p.get_x() + p.get_width() / 2 for p in c.patches]
        else:
            continue
        out.setdefault(c.get_label(), []).extend(float(x) for x in xs)
    return out


@pytest.mark.parametrize("name", ["plot_accuracy_vs_ratio", "plot_vs_reference", "plot_ta_bars"])
def test_arms_at_one_ratio_are_drawn_at_distinct_x(name):
    from prunebench.report import plots

    rows = one_ratio_rows()
    fig = getattr(plots, name)(aggregate(rows, "ref"), rows)
    arms = ["a", "b", "c"] if name == "plot_vs_reference" else ["ref", "a", "b", "c"]  # the reference has no difference
    for ax in fig.axes:  # ta_bars: a panel for training and one for test accuracy
        xs = drawn_xs(ax)
        assert sorted(xs) == sorted(arms) and all(len(v) == 1 for v in xs.values()), xs
        assert len({v[0] for v in xs.values()}) == len(arms), f"{name}: arms overlap: {xs}"


def test_one_ratio_puts_arms_on_the_x_axis_and_many_ratios_keep_the_ratio_axis():
    from prunebench.report.plots import plot_accuracy_vs_ratio, plot_vs_reference

    rows = one_ratio_rows()
    agg = aggregate(rows, "ref")
    fig = plot_accuracy_vs_ratio(agg, rows, paper={"b": {0.5: 90.0, 0.7: 80.0}})
    assert drawn_xs(fig.axes[0]) == {"ref": [0.0], "a": [1.0], "b": [2.0], "c": [3.0]}
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ref", "a", "b", "c"]
    (paper_line,) = [ln for ln in ax.get_lines() if ln.get_label() == "paper: b"]
    assert list(paper_line.get_xdata()) == [2]  # b's published number at the study's ratio, at b's x
    fig = plot_vs_reference(agg, rows)
    assert drawn_xs(fig.axes[0]) == {"a": [0.0], "b": [1.0], "c": [2.0]}
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b", "c"]

    rows = one_ratio_rows((0.3, 0.7))
    agg = aggregate(rows, "ref")
    assert drawn_xs(plot_accuracy_vs_ratio(agg, rows).axes[0]) == {arm: [0.3, 0.7] for arm in ("ref", "a", "b", "c")}
    assert drawn_xs(plot_vs_reference(agg, rows).axes[0]) == {arm: [0.3, 0.7] for arm in ("a", "b", "c")}
