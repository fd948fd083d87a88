"""Audit of result rows, the rows CSV reader and ``prunebench audit``."""
import json

import pytest

import prunebench.cli
from prunebench.errors import PrunebenchError
from prunebench.fairness import audit_rows, read_rows_csv

HEADER = "name,dataset,model,macs,base,retrain_epochs,retrain_lr,batch_size,weight_decay,momentum,total_epochs"
CSV = "\n".join([
    HEADER,
    'l1,cifar10,resnet56,62.7e6,abc,120,"0:0.01,60:0.001,90:0.0001",128,5e-4,0.9,320',
    'taylor,cifar10,resnet56,63.0e6,abc,120,"0:1e-2,60:1e-3,90:1e-4",128,5e-4,0.9,320',
    'l1-small-lr,cifar10,resnet56,62.7e6,abc,120,"0:0.001,80:0.0001",128,5e-4,0.9,320',
    "scratch,cifar10,resnet56,62.7e6,,,,,,,320",
]) + "\n"


@pytest.fixture
def rows_csv(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(CSV)
    return path


def write(tmp_path, text, name="r.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- CSV reader

def test_reader_types_and_missing_cells(rows_csv):
    rows = read_rows_csv(rows_csv)
    assert [r["name"] for r in rows] == ["l1", "taylor", "l1-small-lr", "scratch"]
    assert rows[0]["macs"] == 62.7e6 and isinstance(rows[0]["macs"], float)
    assert rows[0]["retrain_epochs"] == 120 and isinstance(rows[0]["retrain_epochs"], int)
    assert rows[0]["retrain_lr"] == "0:1e-2,60:1e-3,90:1e-4"  # read, then printed in the canonical form
    assert rows[0]["base"] == "abc"
    assert rows[3] == {"name": "scratch", "dataset": "cifar10", "model": "resnet56", "macs": 62.7e6, "total_epochs": 320.0}


def test_reader_accepts_any_subset_any_order_bom_and_blank_lines(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("\ufeff model , name\n\nvgg19,a\n,b\n".encode())
    assert read_rows_csv(path) == [{"model": "vgg19", "name": "a"}, {"name": "b"}]


@pytest.mark.parametrize(
    "text, words",
    [
        ("name,acc,seeds\na,1,2\n", ["'acc'", "'seeds'", "unknown column"]),
        ("name,macs\na,1e6\nb,12x\n", ["line 3", "'macs'", "12x"]),
        ("name,retrain_epochs\na,12.5\n", ["line 2", "'retrain_epochs'"]),
        ("name,retrain_lr\na,0:0.1;30:0.01\n", ["line 2", "'retrain_lr'"]),
        ("name,macs\na,1,2\n", ["line 2", "3 cells", "2 columns"]),
        ("name,macs,name\n", ["'name'", "more than once"]),
        ("name,,macs\n", ["column 2", "no name"]),
        ("", ["empty"]),
        ("\n\n", ["empty"]),
        ("name,macs\na,-1\n", ["'macs'", ">= 0"]),
        ("name,macs\na,inf\n", ["'macs'"]),
    ],
)
def test_reader_errors_name_the_problem(tmp_path, text, words):
    with pytest.raises(PrunebenchError) as err:
        read_rows_csv(write(tmp_path, text))
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_reader_missing_file_and_directory(tmp_path):
    with pytest.raises(PrunebenchError, match="not found"):
        read_rows_csv(tmp_path / "nope.csv")
    with pytest.raises(PrunebenchError, match="not a regular file"):
        read_rows_csv(tmp_path)


def test_reader_rejects_binary(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"name\n\xff\xfe\x00\n")
    with pytest.raises(PrunebenchError, match="UTF-8"):
        read_rows_csv(path)


# ---------------------------------------------------------------- audit_rows

def test_audit_against_first_row(rows_csv):
    result = audit_rows(read_rows_csv(rows_csv))
    pairs = {p["b"]: p for p in result["pairs"]}
    assert list(pairs) == ["taylor", "l1-small-lr", "scratch"]
    assert all(p["a"] == "l1" for p in result["pairs"])
    assert pairs["taylor"]["strictest"] == "S3.2"  # 0.5 % more MACs is within tolerance
    assert pairs["taylor"]["unknown"] == ["S4.1", "S4.2", "SO", "SX-B"]  # no overall schedule in a CSV row
    assert pairs["l1-small-lr"]["strictest"] == "S3.1"
    assert pairs["l1-small-lr"]["differs"] == ["retrain_lr"]
    assert pairs["scratch"]["holds"] == ["S1", "SX-A"]
    summary = result["summary"]
    assert summary["reference"] == "l1" and summary["n_pairs"] == 3
    assert summary["strictest"] == "S1"
    assert summary["holds_every"] == ["S1", "SX-A"]
    assert summary["meets_target"] is False
    assert summary["short"] == [
        {"b": "l1-small-lr", "strictest": "S3.1", "differs": ["retrain_lr"], "missing": []},
        {"b": "scratch", "strictest": "S1", "differs": [],
         "missing": ["base", "retrain_epochs", "retrain_lr", "batch_size", "weight_decay", "momentum"]},
    ]


def test_audit_reference_by_name_tolerance_and_target(rows_csv):
    rows = read_rows_csv(rows_csv)[:3]
    result = audit_rows(rows, reference="taylor", tolerance=0.001, target="S2")
    assert [(p["a"], p["b"]) for p in result["pairs"]] == [("taylor", "l1"), ("taylor", "l1-small-lr")]
    # 63.0e6 vs 62.7e6 is 0.48 % apart: beyond a 0.1 % tolerance.
    assert all(p["differs"][0] == "macs" and p["strictest"] is None for p in result["pairs"])
    assert result["summary"]["strictest"] is None
    assert [s["b"] for s in result["summary"]["short"]] == ["l1", "l1-small-lr"]
    assert result["summary"]["short"][0]["differs"] == ["macs"]


def test_audit_meeting_the_target(rows_csv):
    rows = read_rows_csv(rows_csv)[:2]
    summary = audit_rows(rows)["summary"]
    assert summary["meets_target"] is True and summary["short"] == []
    assert summary["strictest"] == "S3.2"


def test_unnamed_rows_are_numbered():
    rows = [{"dataset": "d", "model": "m", "macs": 1}, {"dataset": "d", "model": "m", "macs": 1}]
    result = audit_rows(rows, reference="row 2")
    assert (result["pairs"][0]["a"], result["pairs"][0]["b"]) == ("row 2", "row 1")


@pytest.mark.parametrize(
    "rows, kwargs, match",
    [
        ([{"name": "a"}, {"name": "b"}], {"reference": "c"}, "reference row 'c' not found; rows: 'a', 'b'"),
        ([{"name": "a"}, {"name": "a"}], {}, "unique; repeated: 'a'"),
        ([{"name": "a"}], {}, "at least two rows"),
        ([], {}, "at least two rows"),
        ([{"name": "a"}, {"name": "b"}], {"target": "S9"}, "unknown comparison setup 'S9'"),
        ([{"name": "a"}, {"name": "b"}], {"tolerance": 2}, "tolerance"),
        ([{"name": "a"}, {"name": "b", "macs": "many"}], {}, "row 'b', column 'macs'"),
    ],
)
def test_audit_errors(rows, kwargs, match):
    with pytest.raises(PrunebenchError, match=match):
        audit_rows(rows, **kwargs)


# ---------------------------------------------------------------- CLI

@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setattr(prunebench.cli, "GROUPS", ["audit"])
    return prunebench.cli.main


def test_cli_json(cli, rows_csv, capsys):
    assert cli(["audit", "--rows", str(rows_csv), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"pairs", "summary"}
    assert data == audit_rows(read_rows_csv(rows_csv))
    for pair in data["pairs"]:
        assert set(pair) == {"a", "b", "holds", "strictest", "table4", "differs", "unknown", "rate"}


def test_cli_json_options(cli, rows_csv, capsys):
    args = ["audit", "--rows", str(rows_csv), "--json", "--reference", "taylor", "--tolerance", "0.001", "--target", "S1"]
    assert cli(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["reference"] == "taylor"
    assert data["summary"]["tolerance"] == 0.001
    assert data["summary"]["target"] == "S1"
    assert data["pairs"][0]["differs"][0] == "macs"


def test_cli_table(cli, rows_csv, capsys):
    assert cli(["audit", "--rows", str(rows_csv)]) == 0
    out = capsys.readouterr().out
    for word in ("taylor", "l1-small-lr", "scratch", "retrain_lr", "S3.1"):
        assert word in out
    assert "every comparison with 'l1' meets S1" in " ".join(out.split())
    assert "2 of 3 fall short of S3.2" in " ".join(out.split())


def test_cli_table_survives_markup_in_names(cli, tmp_path, capsys):
    path = write(tmp_path, "name,dataset\n[bold]x,d\n[/],d\n")
    assert cli(["audit", "--rows", str(path)]) == 0
    out = capsys.readouterr().out
    assert "[bold]x" in out and "[/]" in out


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--tolerance", "x"], "tolerance"),
        (["--tolerance", "1.5"], "tolerance"),
        (["--tolerance=-0.1"], "tolerance"),
        (["--reference", "nobody"], "reference row 'nobody' not found"),
        (["--target", "S5"], "unknown comparison setup"),
    ],
)
def test_cli_bad_options_exit_2(cli, rows_csv, capsys, extra, match):
    assert cli(["audit", "--rows", str(rows_csv), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prunebench: error:") and match in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "text, match",
    [
        (None, "not found"),
        ("name,accuracy\na,1\n", "unknown column(s) 'accuracy'"),
        ("name,macs\na,1\nb,oops\n", "line 3, column 'macs'"),
    ],
)
def test_cli_bad_files_exit_2(cli, tmp_path, capsys, text, match):
    path = tmp_path / "rows.csv"
    if text is not None:
        path.write_text(text)
    assert cli(["audit", "--rows", str(path)]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and "Traceback" not in err
