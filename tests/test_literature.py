"""The shipped literature dataset, its audit (setups and calibration flags), the importers and
``prunebench literature``. Numbers checked here are the published ones (paper-notes §7, §10,
methods-notes) or hand arithmetic on them."""
import csv
import io
from importlib import resources

import pytest

import prunebench.cli
from prunebench.fairness import audit_rows, compare_rows, read_rows_csv, schedules_equal
from prunebench.literature import DATASETS, audit_table, load_dataset
from prunebench.literature.flags import (base_accuracy, best_test, recipe_unknown, retraining_differs, single_run,
                                         under_trained, within_spread)
from prunebench.literature.importers import import_mapped, import_shrinkbench, parse_map


@pytest.fixture
def cli():
    return prunebench.cli.main


def audit(name):
    return audit_table(name, load_dataset(name))


def pair(result, b):
    return next(c for c in result["comparisons"] if c["b"] == b)


def row_flags(result, name):
    return [f["rule"] for f in next(r for r in result["rows"] if r["name"] == name)["flags"]]


# ---------------------------------------------------------------- the shipped dataset
def test_every_shipped_table_is_listed_and_every_row_names_its_source():
    files = {p.name for p in resources.files("prunebench.literature").joinpath("data").iterdir() if p.name.endswith(".csv")}
    assert files == {f"{d.name}.csv" for d in DATASETS}
    for d in DATASETS:
        rows = load_dataset(d.name)
        assert rows, d.name
        for row in rows:
            assert row.get("source"), (d.name, row["name"])
            assert "Table" in row["source"] or "Tab." in row["source"], (d.name, row["name"], row["source"])


def test_published_cells_as_printed():
    t1 = {r["name"]: r for r in load_dataset("paper-table1")}
    assert (t1["CC (CVPR'21) 2.12x"]["top1"], t1["CC (CVPR'21) 2.12x"]["speedup"]) == (75.59, 2.12)
    assert t1["L1-norm (reimpl.) 2.56x"]["top1"] == 74.77 and t1["L1-norm (reimpl.) 2.56x"]["base_acc"] == 76.13
    assert t1["DCP (NeurIPS'18) 2.25x"]["retrain_epochs"] == 60 and "36/48/54" in t1["DCP (NeurIPS'18) 2.25x"]["retrain_lr_note"]
    assert sum(1 for r in t1.values() if r.get("top1") is not None) == 18  # Table 1 has 18 results
    t4 = {r["name"]: r for r in load_dataset("paper-table4")}
    assert t4["S4.2 P90F30 1e-4 @95%"]["top1"] == 29.89 and t4["SX-A P30F90 1e-1 @95%"]["top1"] == 79.57
    assert t4["S4.2 P30F90 1e-2 @95%"]["top1"] == 77.64 and t4["S4.2 P30F90 1e-2 @95%"]["std"] == 0.39
    assert t4["Scratch @10%"]["macs"] == 3.30e9
    r56 = {r["name"]: r for r in load_dataset("paper-resnet56")}
    assert (r56["TPP (step, LR 1e-2) @0.9"]["top1"], r56["TPP (step, LR 1e-2) @0.9"]["std"]) == (89.63, 0.10)
    assert (r56["L1 (step, LR 1e-2) @0.9"]["top1"], r56["L1 (step, LR 1e-2) @0.9"]["std"]) == (86.75, 0.31)
    assert r56["L1 (step, LR 1e-3) @0.95"]["sparsity"] == 95.19 and r56["L1 (step, LR 1e-3) @0.95"]["speedup"] == 19.31
    liu = {r["name"]: r for r in load_dataset("liu2019-l1")}
    assert liu["ResNet-110-B Scratch-B"]["top1"] == 93.60 and liu["ResNet-34-B fine-tuned"]["top1"] == 72.29
    assert "unconfirmed" in liu["ResNet-56-A fine-tuned"]["note"] and "unconfirmed" in liu["VGG-16-A Scratch-E"]["note"]


def test_table4_s42_retraining_schedule_is_the_rest_of_the_scratch_schedule():
    t4 = {r["name"]: r for r in load_dataset("paper-table4")}
    # P30F90 at 1e-2: the 120-epoch scratch schedule 0:0.1,30:0.01,60:0.001,90:1e-4,105:1e-5 from epoch 30.
    assert t4["S4.2 P30F90 1e-2 @50%"]["retrain_lr"] == "0:1e-2,30:1e-3,60:1e-4,75:1e-5"
    assert t4["S4.2 P90F30 1e-4 @50%"]["retrain_lr"] == "0:1e-4,15:1e-5"


# ---------------------------------------------------------------- audits of the shipped tables
def test_paper_table1_every_comparison_placed_and_l1_recipes():
    result = audit("paper-table1")
    results = [r["name"] for r in result["rows"] if r["top1"] is not None]
    compared = {c["b"] for c in result["comparisons"]} | {c["a"] for c in result["comparisons"]}
    assert set(results) == compared and len(result["comparisons"]) == 16  # 18 results, two references
    assert {c["a"] for c in result["comparisons"]} == {"L1-norm (reimpl.) 2.31x", "L1-norm (reimpl.) 2.56x"}
    for c in result["comparisons"]:
        assert c["strictest"] in ("S1", None) and c["rate"] == "speedup"
    # The original L1-norm recipe (LR 0.001 fixed, 20 epochs, Table 3) is flagged; the re-implementation is not.
    assert "under-trained" in row_flags(result, "L1-norm (ICLR'17)")
    for name in ("L1-norm (reimpl.) 2.31x", "L1-norm (reimpl.) 2.56x", "GReg-1 (ICLR'21) 2.31x"):
        assert "under-trained" not in row_flags(result, name) and "recipe-unknown" not in row_flags(result, name)
    assert result["summary"]["flags"]["under-trained"]["flagged"] == 1


def test_paper_table1_setups_and_pair_flags():
    result = audit("paper-table1")
    greg = pair(result, "GReg-1 (ICLR'21) 2.31x")
    assert greg["holds"] == ["S1"] and "S2" in greg["unknown"] and "base" in greg["missing"]
    assert [f["rule"] for f in greg["flags"]] == []  # same 90-epoch schedule, nothing differs
    sfp = pair(result, "SFP (IJCAI'18) 1.72x")
    assert sfp["strictest"] is None and sfp["differs"] == ["speedup"]  # 1.72x vs 2.31x: not S1
    (flag,) = [f for f in sfp["flags"] if f["rule"] == "base-accuracy"]
    assert "-1.54 vs -0.89" in flag["message"]  # 74.61 - 76.15 and 75.24 - 76.13
    dcp = pair(result, "DCP (NeurIPS'18) 2.25x")
    assert "retraining-differs" in [f["rule"] for f in dcp["flags"]]  # 60 vs 90 epochs
    assert "best-test" in row_flags(result, "HRank (CVPR'20) 1.78x")
    assert result["summary"]["by_strictest"]["S1"] == 6


def test_paper_table4_groups_meet_the_setups_the_paper_names():
    result = audit("paper-table4")
    assert len(result["comparisons"]) == 66  # 11 arms x 6 ratios against scratch
    for c in result["comparisons"]:
        if c["paper_setup"] in ("SX-A", "SX-B"):
            assert c["paper_setup"] in c["holds"], c["b"]
        # Table 4's "S4.2" is the same overall schedule: pruned from a dense snapshot, so Table 2's chain
        # gives S1 (the base differs from scratch's fresh init), with the same 120 total epochs (SX-A).
        if c["paper_setup"] == "S4.2":
            assert c["strictest"] == "S1" and "SX-A" in c["holds"] and "base" in c["differs"]
    assert result["summary"]["sx"]["SX-B"] >= 12


def test_paper_resnet56_same_recipe_vs_other_lr():
    result = audit("paper-resnet56")
    tpp = pair(result, "TPP (step, LR 1e-2) @0.3")
    assert tpp["strictest"] == "S3.1" and tpp["rate"] == "speedup"
    assert "momentum" in tpp["missing"]  # the retraining momentum is not printed: S3.2 stays unknown
    assert "within-spread" in [f["rule"] for f in tpp["flags"]]  # |93.81 - 93.79| = 0.02 < 0.11 + 0.06
    assert "within-spread" not in [f["rule"] for f in pair(result, "TPP (step, LR 1e-2) @0.9")["flags"]]  # 2.88 > 0.41
    small = pair(result, "L1 (step, LR 1e-3) @0.5")
    assert small["strictest"] == "S3.1" and "retraining-differs" in [f["rule"] for f in small["flags"]]


def test_liu2019_fine_tuned_rows_are_under_trained_and_s1_is_unknown():
    result = audit("liu2019-l1")
    tuned = [r for r in result["rows"] if r["name"].endswith("fine-tuned")]
    assert len(tuned) == 7 and all("under-trained" in [f["rule"] for f in r["flags"]] for r in tuned)
    scratch = [r for r in result["rows"] if "Scratch" in r["name"]]
    assert scratch and all("under-trained" not in [f["rule"] for f in r["flags"]] for r in scratch)
    assert "single-run" in row_flags(result, "ResNet-34-A fine-tuned")  # ImageNet cells carry no std
    assert all("S1" in c["unknown"] for c in result["comparisons"])
    assert "S1" in result["summary"]["absent"]["macs/speedup/sparsity"]


# ---------------------------------------------------------------- the rules, on hand-made rows
IMAGENET = {"dataset": "imagenet", "base": "x"}


@pytest.mark.parametrize("row, expected", [
    ({"retrain_lr": "0.001", "retrain_epochs": 20}, "flag"),          # Li et al.: 0.001 <= 0.01 and 20 < 45
    ({"retrain_lr": "0.001", "retrain_epochs": 45}, None),            # 45 is half of 90: not "few"
    ({"retrain_lr": "0.02", "retrain_epochs": 20}, None),             # 0.02 > 0.1 x 0.1
    ({"retrain_lr": "0:0.001,10:0.0001", "retrain_epochs": 20}, None),  # a decaying schedule
    ({"retrain_lr": "0.001", "retrain_epochs": 20, "base_epochs": 40, "base_lr": "0:0.01"}, None),  # own base
    ({"retrain_lr": "0.001", "retrain_epochs": 20, "dataset": "svhn"}, "unknown"),  # no base to judge by
    ({"retrain_lr": "0.001"}, "unknown"),
    ({"retrain_lr": "0.001", "retrain_epochs": 20, "base": "fresh-init"}, None),  # scratch: no retraining
])
def test_under_trained_rule(row, expected):
    verdict = under_trained({**IMAGENET, **row})
    assert (verdict and verdict[0]) == expected


def test_row_rules():
    assert recipe_unknown({"base": "x", "retrain_epochs": 20})[0] == "flag"
    assert recipe_unknown({"base": "x", "retrain_epochs": 20, "retrain_lr": "0.1"}) is None
    assert single_run({"top1": 70.0, "n_trials": 1, "std": 0.1})[0] == "flag"
    assert single_run({"top1": 70.0})[0] == "flag"
    assert single_run({"top1": 70.0, "std": 0.2}) is None
    assert best_test({"top1": 70.0, "selection": "best-test"})[0] == "flag"
    assert best_test({"top1": 70.0, "selection": "validation"}) is None


def test_pair_rules():
    a = {"base": "x", "top1": 93.79, "std": 0.06, "retrain_lr": "0:0.01,60:0.001", "retrain_epochs": 120, "base_acc": 93.78}
    b = {"base": "y", "top1": 93.81, "std": 0.11, "retrain_lr": "0:1e-2,60:1e-3", "retrain_epochs": 120, "base_acc": 93.5}
    assert retraining_differs(a, b, {"holds": []}) is None  # the same schedule, written differently
    assert retraining_differs(a, {**b, "retrain_epochs": 90}, {"holds": []})[0] == "flag"
    assert within_spread(a, b, {})[0] == "flag"
    assert within_spread(a, {**b, "top1": 94.0}, {}) is None  # 0.21 > 0.17
    assert within_spread(a, {**b, "top1": 93.94}, {})[0] == "flag"  # 0.15 < 0.06 + 0.11 (the sum, not the larger)
    assert within_spread(a, {**b, "std": None}, {})[0] == "unknown"
    flag = base_accuracy(a, b, {"holds": ["S1"]})
    assert flag[0] == "flag" and "+0.31 vs +0.01" in flag[1]
    assert base_accuracy(a, b, {"holds": ["S1", "S2"]}) is None  # same base model: accuracies compare


# ---------------------------------------------------------------- new columns of the rows format
def test_rate_is_macs_else_speedup_else_sparsity():
    a = {"name": "a", "dataset": "d", "model": "m", "speedup": 2.0, "sparsity": 50.0}
    assert compare_rows(a, {**a, "name": "b"})["rate"] == "speedup"
    assert compare_rows(a, {**a, "name": "b", "speedup": 3.0})["holds"] == []
    only_sparsity = compare_rows({**a, "speedup": None}, {**a, "name": "b", "speedup": None, "sparsity": 50.5})
    assert only_sparsity["rate"] == "sparsity" and "S1" in only_sparsity["holds"]  # within 2 %
    with_macs = compare_rows({**a, "macs": 1e6}, {**a, "name": "b", "macs": 1e6, "speedup": 3.0})
    assert with_macs["rate"] == "macs" and "S1" in with_macs["holds"] and with_macs["differs"] == ["speedup"]
    none = audit_rows([{"name": "a", "dataset": "d", "model": "m"}, {"name": "b", "dataset": "d", "model": "m"}])
    assert none["pairs"][0]["rate"] is None and none["summary"]["short"][0]["missing"][0] == "macs"


def test_rows_csv_new_columns(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('name,source,top1,std,n_trials,selection,retrain_lr,sparsity\n'
                    'a,"P, Table 1",75.5%,,3,final,"{0:0.01, 30:0.001, 60:1e-4}",50\n'.replace("75.5%", "75.5"))
    (row,) = read_rows_csv(path)
    lr = row.pop("retrain_lr")
    assert row == {"name": "a", "source": "P, Table 1", "top1": 75.5, "n_trials": 3, "selection": "final",
                   "sparsity": 50.0}
    # The authors' braces are read; the cell is kept in a brace-free form (exact spelling aside).
    assert "{" not in lr and " " not in lr and schedules_equal(lr, "0:0.01,30:0.001,60:0.0001")


@pytest.mark.parametrize("header, cell, words", [
    ("selection", "best", ["line 2", "'selection'", "best-test"]),
    ("top1", "101", ["line 2", "'top1'", "[0, 100]"]),
    ("n_trials", "0", ["line 2", "'n_trials'", "at least 1"]),
    ("retrain_lr", "{0:0.1; 30:0.01}", ["line 2", "'retrain_lr'"]),
])
def test_rows_csv_new_columns_reject_bad_cells(tmp_path, cli, capsys, header, cell, words):
    path = tmp_path / "bad.csv"
    path.write_text(f'name,dataset,model,speedup,{header}\na,d,m,2,"{cell}"\nb,d,m,2,\n')
    out = tmp_path / "report"
    assert cli(["literature", "audit", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert not out.exists() and list(tmp_path.iterdir()) == [path]  # nothing written


# ---------------------------------------------------------------- importers
SB_HEADER = ("Name,Paper,Dataset,Model,Method,Notes,NumTrials,Err1,Err5,Top1,stdTop1,dTop1,Top5,dTop5,MParams,"
             "savedParams,keptParams,GFLOPS,savedFLOPS,keptFLOPS,OrigTop1,stdOrigTop1,OrigTop5,OrigMParams,OrigGFLOPS,"
             "old/new Nparam,old/new FLOPS,OrigErr1,OrigErr5")
SB_COLUMNS = SB_HEADER.split(",")


def sb_line(**cells):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([cells.get(c.replace("/", "_").replace(" ", "_"), "") for c in SB_COLUMNS])
    return buf.getvalue()


def shrinkbench_file(tmp_path, *extra):
    text = "\ufeff" + SB_HEADER + "\n" + "".join([
        sb_line(Name="438", Paper="thinet-channel-norms", Dataset="ImageNet", Model="ResNet-50", Method="ThiNet",
                Notes='pruned layer by layer, then "fine-tuned", 1 epoch each', NumTrials="1", Top1="71.01%",
                keptParams="50%", keptFLOPS="45%", OrigTop1="75.30%"),
        sb_line(Name="Prune-B", Paper="Paper B", Dataset="CIFAR-10", Model="VGG-16", Err1="6.5%", old_new_FLOPS="2.0",
                OrigErr1="6.2%"),
        sb_line(Name="NoAcc", Paper="Paper C", Dataset="CIFAR10", Model="ResNet-56", savedParams="40%"),
        sb_line(Name="NoComp", Paper="Paper D", Dataset="CIFAR-10", Model="ResNet-56", Top1="93.0%"),
        sb_line(Name="Prune-E", Paper="Paper E", Dataset="CIFAR-10", Model="VGG 16", Top1="93.55%", stdTop1="0.12%",
                NumTrials="3", MParams="5.4", OrigMParams="15", savedFLOPS="50%"),
        sb_line(Name="Prune-E", Paper="Paper F", Dataset="cifar-10", Model="vgg-16", dTop1="-0.3%", OrigTop1="93.8%",
                keptParams="0.5", GFLOPS="0.16", OrigGFLOPS="0.32"),
        sb_line(Name="531", Paper="rethinking-net-pruning", Dataset="CIFAR-10", Model="ResNet-56", Method="Scratch-B",
                Notes="table1, vs Li et al", dTop1="-0.180%", keptParams="61.50%"),
        *extra,
    ])
    path = tmp_path / "Results-Grid view.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_shrinkbench_import_awkward_cases(tmp_path):
    result = import_shrinkbench(shrinkbench_file(tmp_path))
    assert result.n_input == 7 and len(result.rows) + len(result.skipped) == 7
    assert [(line, name) for line, name, _ in result.skipped] == [(4, "NoAcc"), (5, "NoComp"), (8, "531")]
    assert "no accuracy" in result.skipped[0][2] and "no compression" in result.skipped[1][2]
    assert "only its change (dTop1)" in result.skipped[2][2]
    assert "Top5" in result.ignored_columns
    thinet, b, e, f = result.rows
    assert thinet["dataset"] == "imagenet" and thinet["model"] == "resnet50" and thinet["top1"] == 71.01
    assert thinet["speedup"] == pytest.approx(1 / 0.45) and thinet["sparsity"] == 50.0 and thinet["n_trials"] == 1
    assert thinet["base_acc"] == 75.30 and '"fine-tuned", 1 epoch each' in thinet["note"]
    assert thinet["source"] == "ShrinkBench results grid (Blalock et al. 2020): thinet-channel-norms"
    assert thinet["name"] == "thinet-channel-norms #438"  # the grid's Name is a record number
    assert (b["top1"], b["base_acc"], b["speedup"], b["model"]) == (93.5, 93.8, 2.0, "vgg16")
    assert (e["top1"], e["std"], e["n_trials"], e["speedup"]) == (93.55, 0.12, 3, 2.0)
    assert e["sparsity"] == pytest.approx(64.0) and e["params"] == pytest.approx(5.4e6)
    assert f["name"] == "Prune-E [2]" and f["top1"] == pytest.approx(93.5) and f["speedup"] == 2.0 and f["sparsity"] == 50.0


def test_shrinkbench_cli_import_then_audit(tmp_path, cli, capsys):
    out = tmp_path / "sb.csv"
    assert cli(["literature", "import", "shrinkbench", str(shrinkbench_file(tmp_path)), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "imported 4 of 7 rows; skipped 3" in text and "skipped line 4 (NoAcc): no accuracy" in text
    rows = read_rows_csv(out)
    assert len(rows) == 4 and all(r["source"].startswith("ShrinkBench") for r in rows)
    result = audit_table("sb", rows)
    assert result["mode"].startswith("all pairs")
    assert sorted((c["a"], c["b"]) for c in result["comparisons"]) == [
        ("Prune-B", "Prune-E"), ("Prune-B", "Prune-E [2]"), ("Prune-E", "Prune-E [2]")]
    assert all(c["strictest"] == "S1" and c["rate"] == "speedup" for c in result["comparisons"])
    absent = result["summary"]["absent"]
    assert "S2" in absent["base"] and "S3.2" in absent["retrain_lr"]  # no recipes in ShrinkBench: S1 at most
    assert result["summary"]["unplaced"] == ["thinet-channel-norms #438"]
    report = tmp_path / "report"
    assert cli(["literature", "audit", str(out), "--out", str(report)]) == 0
    md = (report / "report.md").read_text()
    assert "base: leaves S2, S3.1, S3.2, S4.1, S4.2 unknown" in md


def test_shrinkbench_bad_cell_names_line_and_column(tmp_path, cli, capsys):
    path = shrinkbench_file(tmp_path, sb_line(Name="Bad", Paper="P", Dataset="CIFAR-10", Model="VGG-16", Top1="9x.5%",
                                              savedFLOPS="50%"))
    out = tmp_path / "sb.csv"
    assert cli(["literature", "import", "shrinkbench", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "line 9" in err and "'Top1'" in err and "9x.5%" in err
    assert not out.exists()


def test_shrinkbench_shares_percent_or_fraction():
    from prunebench.literature.importers import _Cells

    cells = _Cells("f.csv", 2, {"a": "0.5%", "b": "0.5", "c": "45", "d": "45%", "e": "120%"})
    assert [cells.fraction(k) for k in "abcd"] == [0.005, 0.5, 0.45, 0.45]
    with pytest.raises(Exception, match="line 2, column 'e'"):
        cells.fraction("e")


def test_shrinkbench_refuses_another_format(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Name,Top1\na,1%\n")
    with pytest.raises(Exception, match="missing column"):
        import_shrinkbench(path)


def test_mapped_import(tmp_path, cli, capsys):
    path = tmp_path / "t.csv"
    path.write_text("Method,Top-1,Speed-up,Epochs,Remarks\nA,75.1%,2.3,90,x\nB,74.2,2.3,20,\n")
    result = import_mapped(path, parse_map(["Method=name", "Top-1=top1", "Speed-up=speedup", "Epochs=retrain_epochs"]),
                           source="Some paper, Table 2")
    assert result.rows[0] == {"name": "A", "top1": 75.1, "speedup": 2.3, "retrain_epochs": 90, "source": "Some paper, Table 2"}
    assert result.ignored_columns == ["Remarks"]
    out = tmp_path / "o.csv"
    assert cli(["literature", "import", "csv", str(path), "--map", "Method=name", "--map", "Top-1=top1",
                "--out", str(out)]) == 2
    assert "source" in capsys.readouterr().err and not out.exists()
    assert cli(["literature", "import", "csv", str(path), "--map", "Top-1=accuracy", "--source", "s", "--out", str(out)]) == 2
    assert "'accuracy' is not a rows column" in capsys.readouterr().err and not out.exists()
    path.write_text("Method,Top-1\nA,75.1\nB,lots\n")
    assert cli(["literature", "import", "csv", str(path), "--map", "Method=name", "--map", "Top-1=top1",
                "--source", "s", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "'top1'" in err and "'Top-1'" in err and not out.exists()


# ---------------------------------------------------------------- CLI and report
def test_cli_list(cli, capsys):
    assert cli(["literature", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [d.name for d in DATASETS]
    assert all("Table" in line for line in lines)


def test_cli_audit_report_of_every_shipped_table(cli, capsys, tmp_path):
    out = tmp_path / "lit"
    assert cli(["literature", "audit", "--out", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "of 16 published comparisons in paper-table1" in printed
    assert {p.name for p in out.iterdir()} == {"report.html", "report.md", "comparisons.csv", "rows.csv", "figures"}
    html = (out / "report.html").read_text()
    # One figure per table, but liu2019-l1 prints no speedup, sparsity or MACs: its figure is skipped, saying so.
    assert html.count('src="data:image/png;base64,') == len(DATASETS) - 1 and "http" not in html
    assert "liu2019-l1: top-1 accuracy against speedup, marked by the setup each comparison meets: skipped" in html
    with open(out / "comparisons.csv", newline="") as f:
        records = list(csv.DictReader(f))
    assert len(records) == sum(len(audit(d.name)["comparisons"]) for d in DATASETS)
    assert "under-trained" in (out / "rows.csv").read_text()


def test_cli_audit_reference_and_unknown_name(cli, capsys):
    assert cli(["literature", "audit", "paper-table1", "--reference", "CC (CVPR'21) 2.12x", "--json"]) == 0
    capsys.readouterr()
    assert cli(["literature", "audit", "paper-table9"]) == 2
    assert "paper-table1" in capsys.readouterr().err
