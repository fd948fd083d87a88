"""Hostile study files, study databases and report inputs through the CLI (issue 15): each row must end
in exit 2 with one line naming the problem, no traceback and nothing half-written (tests/hostile.py).
A new hostile input is a new row."""
from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hostile import Case, check_case
from study_fixture import STUDY, copy_study, write_study

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

_CLEANUP: list = []  # what a row's setup started (lock holders, limits), undone after the row


@pytest.fixture(autouse=True)
def _undo():
    yield
    while _CLEANUP:
        _CLEANUP.pop()()


def study_text(tmp: Path, text: str | bytes, name: str = "study.yaml") -> list[str]:
    path = tmp / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return ["run", path, "--out", tmp / "out"]


def with_keys(tmp: Path, **changes) -> list[str]:
    path = write_study(tmp / "study.yaml", **changes)
    return ["run", path, "--out", tmp / "out"]


def base_text() -> str:
    return yaml.safe_dump(STUDY, sort_keys=False)


# -- study files ------------------------------------------------------------------------------------

def non_utf8(tmp):
    return study_text(tmp, base_text().replace("name: tiny", "name: tiny\ndescription: caf").encode() + b"\xe9 au lait\n")


def deep_nesting(tmp):
    return study_text(tmp, base_text() + "paper: " + "[" * 20_000 + "]" * 20_000 + "\n")


def alias_bomb(where: str):
    def setup(tmp):
        lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in range(1, 9):
            lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
        bomb = "\n".join("  " + line for line in lines)
        if where == "paper":
            text = base_text() + "paper:\n" + bomb + "\n"
        else:
            text = base_text().replace("  args:\n", "  args:\n" + bomb.replace("  ", "    ", 1).replace("\n  ", "\n    ") + "\n")
        return study_text(tmp, text)
    return setup


def self_alias(tmp):
    return study_text(tmp, base_text() + "paper: &p {a: *p}\n")


def duplicate_key(tmp):
    return study_text(tmp, base_text() + "ratios: [0.5]\n")


def fifo_config(tmp):
    os.mkfifo(tmp / "study.yaml")
    return ["run", tmp / "study.yaml", "--out", tmp / "out"]


def dev_stdin(tmp):
    return ["run", "/dev/stdin", "--out", tmp / "out"]


def giant_file(tmp):
    return study_text(tmp, base_text() + "description: '" + "x" * (5 * 1024 * 1024) + "'\n")


def directory_config(tmp):
    (tmp / "study.yaml").mkdir()
    return ["run", tmp / "study.yaml", "--out", tmp / "out"]


def huge_grid(tmp):
    return with_keys(tmp, seeds=list(range(1000)), ratios=[round(0.9 * (i + 1) / 1001, 6) for i in range(1000)])


def wide_model(tmp):
    return with_keys(tmp, model={"name": "mlp", "args": {"depth": 3, "width": 10_000_000}})


def endless_epochs(tmp):
    return with_keys(tmp, base={**STUDY["base"], "epochs": 1_000_000_000})


def train_config_bomb(tmp):
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    (tmp / "train.yaml").write_text("model: {name: mlp}\n" + "\n".join(lines) + "\n")
    return ["train", "--config", tmp / "train.yaml", "--out", tmp / "m"]


def train_config_duplicate(tmp):
    (tmp / "train.yaml").write_text("model: {name: mlp}\ntrain: {epochs: 1}\ntrain: {epochs: 2}\n")
    return ["train", "--config", tmp / "train.yaml", "--out", tmp / "m"]


def train_endless_epochs(tmp):
    return ["train", "--model", "mlp", "--data", "synthetic", "--epochs", "1000000000", "--out", tmp / "m"]


# -- study databases ---------------------------------------------------------------------------------

def sqlite_replaced(make):
    def setup(tmp):
        study = copy_study(tmp / "s")
        (study / "study.sqlite").unlink()
        make(study / "study.sqlite")
        return ["status", study]
    return setup


def corrupt(path):
    path.write_bytes(b"this is not a database\n" * 200)


def table_less(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (a TEXT)")
    conn.commit()
    conn.close()


def empty_file(path):
    path.write_bytes(b"")


def as_directory(path):
    path.mkdir()


def older_schema(tmp):
    study = copy_study(tmp / "s")
    conn = sqlite3.connect(study / "study.sqlite")
    conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    return ["results", study]


def missing_column(tmp):
    study = copy_study(tmp / "s")
    conn = sqlite3.connect(study / "study.sqlite")
    conn.execute("ALTER TABLE runs DROP COLUMN current")
    conn.commit()
    conn.close()
    return ["report", study]


def directory_db_report(tmp):
    study = copy_study(tmp / "s")
    (study / "study.sqlite").unlink()
    (study / "study.sqlite").mkdir()
    return ["report", study]


def directory_db_run(tmp):
    (tmp / "out" / "study.sqlite").mkdir(parents=True)
    return with_keys(tmp)


def locked(tmp):
    """Another process holds the database's write lock: the resumed run says who, within seconds."""
    study = copy_study(tmp / "s")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(study / 'study.sqlite')!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE'); c.execute(\"INSERT INTO meta VALUES ('held', '1')\")\n"
         "print('locked', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    _CLEANUP.append(lambda: (holder.kill(), holder.wait()))
    assert holder.stdout.readline().strip() == "locked"
    _CLEANUP.append(lambda t=time.monotonic(): None)
    return ["run", study, "--no-progress"]


def disk_full_report(tmp):
    """A full disk while the report is written (a file-size limit: writes past it fail with EFBIG)."""
    study = copy_study(tmp / "s")
    from prunebench.cli import main

    assert main(["report", str(study)]) == 0
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))

    def restore():
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    _CLEANUP.append(restore)
    return ["report", study]


def stored_bad_paper(tmp):
    """A study recorded before `paper` was validated, with a malformed one, is refused by report
    in one line (naming `paper`) instead of crashing half-way through the tables."""
    study = copy_study(tmp / "s")
    conn = sqlite3.connect(study / "study.sqlite")
    conn.execute("UPDATE meta SET value = '{\"a\": [90, 80]}' WHERE key = 'paper'")
    conn.commit()
    conn.close()
    return ["report", study]


#: SQLite's own side files, which a reader of a WAL database creates (and cannot remove: it may not write).
SIDE_FILES = ("s/study.sqlite-shm", "s/study.sqlite-wal")

# -- image folders -----------------------------------------------------------------------------------

def image_tree(tmp: Path) -> Path:
    from PIL import Image

    for split in ("train", "val"):
        for c, name in enumerate(("cat", "dog")):
            (tmp / "tree" / split / name).mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (12, 12), (40 + 150 * c, 40, 40)).save(tmp / "tree" / split / name / f"{i}.png")
    return tmp / "tree"


def train_on(tmp: Path) -> list:
    return ["train", "--data", "imagefolder", "--data-dir", tmp / "tree", "--model", "resnet20", "--epochs", "1",
            "--lr-schedule", "0:0.1", "--out", tmp / "m"]


def symlink_loop_image(tmp):
    (image_tree(tmp) / "train" / "cat" / "loop.png").symlink_to("loop.png")
    return train_on(tmp)


def symlink_loop_class(tmp):
    (image_tree(tmp) / "train" / "bird").symlink_to("bird")
    return train_on(tmp)


def dangling_symlink_image(tmp):
    (image_tree(tmp) / "val" / "dog" / "gone.png").symlink_to(tmp / "nowhere.png")
    return train_on(tmp)


def decompression_bomb(tmp):
    from PIL import Image

    Image.new("1", (9000, 8000)).save(image_tree(tmp) / "train" / "dog" / "bomb.png")
    return train_on(tmp)


# -- more commands on studies -----------------------------------------------------------------------

def report_onto_a_file(tmp):
    study = copy_study(tmp / "s")
    (tmp / "notes.txt").write_text("keep me")
    return ["report", study, "--out", tmp / "notes.txt"]


def report_onto_a_folder(tmp):
    study = copy_study(tmp / "s")
    (tmp / "papers").mkdir()
    (tmp / "papers" / "draft.tex").write_text("keep me")
    return ["report", study, "--out", tmp / "papers"]


def audit_corrupt(tmp):
    return ["audit", sqlite_replaced(corrupt)(tmp)[1]]


def results_table_less(tmp):
    return ["results", sqlite_replaced(table_less)(tmp)[1]]


def run_read_only_copy(tmp):
    from study_fixture import make_read_only, make_writable

    study = copy_study(tmp / "s")
    if not make_read_only(study):
        pytest.skip("cannot make a directory read-only here")
    _CLEANUP.append(lambda: make_writable(study))
    return ["run", study, "--no-progress"]


def changed_data(tmp):
    """A finished study on IDX files whose pixels were rewritten (same names, same sizes)."""
    from prunebench.cli import main
    from test_data_fingerprint import study as fp_study, write_idx

    write_idx(tmp / "data")
    path = tmp / "fp.yaml"
    path.write_text(yaml.safe_dump(fp_study(tmp / "data")))
    assert main(["run", str(path), "--out", str(tmp / "out"), "--no-progress"]) == 0
    write_idx(tmp / "data", seed=1)
    return ["run", path, "--out", tmp / "out", "--no-progress"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("PRUNEBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))


CASES = [
    Case("non-UTF-8 study file", non_utf8, "not UTF-8"),
    Case("20,000-deep nesting", deep_nesting, "nested deeper"),
    Case("alias bomb in paper", alias_bomb("paper"), "aliases are expanded"),
    Case("alias bomb in model.args", alias_bomb("args"), "aliases are expanded"),
    Case("alias naming its own container", self_alias, "refers to the node that contains it"),
    Case("duplicate key", duplicate_key, "duplicate key 'ratios'"),
    Case("FIFO as a study file", fifo_config, "not a regular file"),
    Case("/dev/stdin as a study file", dev_stdin, "/dev/stdin"),
    Case("giant study file", giant_file, "bytes"),
    Case("directory as a study file", directory_config, "not a study directory"),
    Case("paper: {a: [90, 80]}", lambda t: with_keys(t, paper={"a": [90, 80]}), "paper: a: must map"),
    Case("paper accuracy above 100", lambda t: with_keys(t, paper={"l1": {0.25: 930}}), "accuracy in percent"),
    Case("paper ratio outside [0, 1)", lambda t: with_keys(t, paper={"l1": {25: 93.0}}), "pruning ratio"),
    Case("10^6-run grid", huge_grid, "at most 100,000"),
    Case("width: 10000000", wide_model, "parameters"),
    Case("epochs: 1000000000 in a study", endless_epochs, "100000"),
    Case("train --epochs 1000000000", train_endless_epochs, "100000"),
    Case("alias bomb in a train --config", train_config_bomb, "aliases are expanded"),
    Case("duplicate key in a train --config", train_config_duplicate, "duplicate key 'train'"),
    Case("corrupt study.sqlite", sqlite_replaced(corrupt), "not a prunebench study database"),
    Case("table-less study.sqlite", sqlite_replaced(table_less), "no attempts, meta, runs table"),
    Case("empty study.sqlite", sqlite_replaced(empty_file), "not a prunebench study database"),
    Case("directory-valued study.sqlite (status)", sqlite_replaced(as_directory), "not a file"),
    Case("directory-valued study.sqlite (report)", directory_db_report, "not a file"),
    Case("directory-valued study.sqlite (run)", directory_db_run, "not a file"),
    Case("older-schema study.sqlite", older_schema, "schema 0", may_create=SIDE_FILES),
    Case("study.sqlite without a column", missing_column, "current", may_create=SIDE_FILES),
    Case("locked study.sqlite", locked, "locked by process pid",
         may_create=("s/.driver.lock", "s/study.sqlite-shm", "s/study.sqlite-wal")),
    Case("disk full during report", disk_full_report, "disk full", may_create=SIDE_FILES),
    Case("stored paper: {a: [90, 80]}", stored_bad_paper, "paper", may_create=SIDE_FILES),
    Case("self-referencing symlink among the images", symlink_loop_image, "refers to itself"),
    Case("self-referencing symlink as a class folder", symlink_loop_class, "refers to itself"),
    Case("dangling symlink among the images", dangling_symlink_image, "symlink to nothing"),
    Case("decompression bomb among the images", decompression_bomb, "decompression bomb"),
    Case("report --out onto a file", report_onto_a_file, "not a directory"),
    Case("report --out onto a folder of other things", report_onto_a_folder, "other things than a report"),
    Case("audit of a corrupt study.sqlite", audit_corrupt, "not a prunebench study database"),
    Case("results of a table-less study.sqlite", results_table_less, "no attempts, meta, runs table"),
    Case("run on a read-only copy", run_read_only_copy, "(read-only?)"),
    Case("resume after the data changed", changed_data, "data set 'mnist' changed",
         may_create=("out/study.sqlite-shm", "out/study.sqlite-wal")),
]


# Errors of one arm found while the study is expanded: each starts with the study file, then the arm,
# like every other study error (an unknown regime name from the registry came without either).
ARM_ERRORS = [
    Case("unknown regime name in an arm with a recipe",
         lambda t: with_keys(t, arms=[{"name": "l1", "criterion": "l1", "regime": "lr-rewinding", "retrain": {"epochs": 2}}]),
         "arm 'l1': unknown regime 'lr-rewinding'"),
    Case("unknown regime name in a tuned arm",
         lambda t: with_keys(t, data={**STUDY["data"], "val_fraction": 0.25},
                             arms=[{"name": "l1", "criterion": "l1", "regime": "nope", "tune": {"lr": [0.01, 0.001]}}]),
         "arm 'l1': unknown regime 'nope'"),
    Case("final LR above the arm's initial LR",
         lambda t: with_keys(t, arms=[{"name": "l1", "criterion": "l1", "retrain": {"lr": 0.01, "final_lr": 0.05}}]),
         "final LR 0.05 is above the initial LR 0.01"),
]
CASES += ARM_ERRORS


@pytest.mark.parametrize("case", ARM_ERRORS, ids=[c.name for c in ARM_ERRORS])
def test_an_arm_error_starts_with_the_study_file_and_the_arm(case, tmp_path, capsys):
    line = check_case(case, tmp_path, capsys)
    assert line.startswith(f"prunebench: error: {tmp_path / 'study.yaml'}: arm 'l1'"), line


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_study_input(case, tmp_path, capsys):
    start = time.monotonic()
    check_case(case, tmp_path, capsys)
    assert time.monotonic() - start < 30, f"{case.name}: took {time.monotonic() - start:.0f} s"
