"""Running studies in-process: status/results output, re-runs, failures, divergence, recovery."""
from __future__ import annotations

import csv
import io
import json
import shutil

import pytest

import prunebench.cli as cli
from prunebench.errors import ConfigError
from prunebench.study import Store, audit_study, run_study, status_summary, study_rows
from prunebench.study.driver import driver_lock
from test_study_spec import TINY, edited, write

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def cli_main(monkeypatch):
    if "study" not in cli.GROUPS:
        monkeypatch.setattr(cli, "GROUPS", [*cli.GROUPS, "study"])
    return cli.main


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny study run once (1 seed to keep it quick); tests copy it before changing it."""
    root = tmp_path_factory.mktemp("tiny")
    path = write(root, edited(seeds=[0, 1]))
    assert run_study(path, root / "out", progress=False) == 0
    return path, root / "out"


def copy_study(finished, tmp_path):
    path, out = finished
    shutil.copytree(out, tmp_path / "out")
    return path, tmp_path / "out"


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_status_and_results_output(finished, cli_main, capsys):
    path, out = finished
    assert cli_main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "study 'tiny'" in text and "10/10 finished" in text and "pipeline runs: 8 done" in text
    assert cli_main(["status", str(out), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["runs"]["done"] == 8 and status["bases"]["done"] == 2 and status["notable"] == []
    assert cli_main(["results", str(out), "--csv"]) == 0
    rows = read_csv(capsys.readouterr().out)
    assert len(rows) == 8
    assert {(r["arm"], r["ratio"], r["seed"]) for r in rows} == {
        (a, r, s) for a in ("l1", "rand") for r in ("0.25", "0.5") for s in ("0", "1")}
    for r in rows:
        assert r["status"] == "done" and r["error"] == ""
        assert 0 <= float(r["test_acc"]) <= 1 and int(r["params"]) < int(r["dense_params"])
        assert "e" not in r["test_acc"] and "e" not in r["jsv_mean_end"]  # plain decimals
        assert r["lr_schedule"] == "0:1e-2" and r["regime"] == "retrain" and r["epochs"] == "2"


def test_rerun_skips_done_runs(finished, tmp_path, capsys):
    path, out = copy_study(finished, tmp_path)
    before = Store.open(out).attempts()
    assert run_study(path, out, progress=False) == 0
    assert Store.open(out).attempts() == before
    assert capsys.readouterr().out == ""  # nothing ran, nothing to say


def test_rows_and_fairness_audit(finished):
    _, out = finished
    rows = study_rows(out)
    assert len(rows) == 8 and all(len(r["history"]) == 2 for r in rows)
    assert {r["criterion"] for r in rows} == {"l1", "random"} and {r["reinit"] for r in rows} == {"keep"}
    audit = audit_study(out)
    assert len(audit["pairs"]) == 4  # 'rand' vs 'l1' at 2 ratios x 2 seeds
    for pair in audit["pairs"]:
        assert (pair["a"], pair["arm"]) == ("l1", "rand")
        assert pair["b"] == f"rand@{pair['ratio']:g}/seed{pair['seed']}"
        # same base, same recipe: at least S3.2; MACs equal within tolerance at the same ratio
        assert "S3.2" in pair["holds"], pair
    assert audit["summary"]["meets_target"] and audit["summary"]["groups"] == 4


def test_driver_killed_after_worker_finished_is_recovered_not_rerun(finished, tmp_path):
    """The window between a worker writing its model directory and the driver recording it."""
    path, out = copy_study(finished, tmp_path)
    store = Store.open(out, write=True)
    run = store.rows(kind="run")[0]["run_id"]
    base = store.rows(kind="base")[0]["run_id"]
    with store.conn:
        for rid in (run, base):
            store.conn.execute("UPDATE runs SET status = 'running', result = NULL WHERE run_id = ?", (rid,))
            store.conn.execute("INSERT INTO attempts (run_id, started_at) VALUES (?, 0)", (rid,))
    # The worker was killed (with its driver) after renaming the finished directory into place and
    # while it removed its work directory: what is left of that is removed on recovery.
    work = {rid: out / where / f".{rid}.partial" for rid, where in ((run, "runs"), (base, "bases"))}
    for leftover in work.values():
        (leftover / "snapshots").mkdir(parents=True)
    assert run_study(path, out, progress=False) == 0
    for rid in (run, base):
        row = store.get(rid)
        assert row["status"] == "done" and row["result"]["test_acc"] is not None
        outcomes = [a["outcome"] for a in store.attempts(rid)]
        assert outcomes == ["done", "driver died", "recovered"]
        assert not work[rid].exists()


def test_running_run_of_dead_driver_is_requeued(finished, tmp_path):
    path, out = copy_study(finished, tmp_path)
    store = Store.open(out, write=True)
    row = store.rows(kind="run")[-1]
    with store.conn:
        store.conn.execute("UPDATE runs SET status = 'running' WHERE run_id = ?", (row["run_id"],))
        store.conn.execute("INSERT INTO attempts (run_id, started_at) VALUES (?, 0)", (row["run_id"],))
    shutil.rmtree(out / "runs" / row["run_id"])
    assert run_study(path, out, progress=False) == 0
    again = store.get(row["run_id"])
    assert again["status"] == "done" and again["result"]["test_acc"] == row["result"]["test_acc"]
    assert [a["outcome"] for a in store.attempts(row["run_id"])] == ["done", "driver died", "done"]


def test_failure_and_divergence_are_recorded_and_the_study_goes_on(tmp_path, cli_main, capsys):
    from prunebench.study import expand, load_study

    study = edited(seeds=[0], ratios=[0.5], arms=[
        {"name": "l1"},
        # Someone's files sit where this arm's model directory goes: its run fails at run time
        # (a model that cannot take the data is refused at validation, see test_study_fit.py)
        {"name": "lenet", "criterion": "random"},
        {"name": "hot", "retrain": {"lr_schedule": "1e12"}},  # diverges
    ])
    out = tmp_path / "out"
    path = write(tmp_path, study)
    blocked = next(j for j in expand(load_study(path), path).runs if j.arm == "lenet")
    (out / "runs" / blocked.run_id).mkdir(parents=True)
    (out / "runs" / blocked.run_id / "notes.txt").write_text("not a model directory")
    assert cli_main(["run", str(path), "--out", str(out), "--no-progress"]) == 1
    printed = capsys.readouterr().out
    assert "failed run" in printed and "diverged run" in printed
    by_arm = {r["arm"]: r for r in study_rows(out)}
    assert by_arm["l1"]["status"] == "done"
    assert by_arm["lenet"]["status"] == "failed" and by_arm["lenet"]["error"]
    assert by_arm["hot"]["status"] == "diverged" and "diverged" in by_arm["hot"]["error"]
    status = status_summary(out)
    assert {r["status"] for r in status["notable"]} == {"failed", "diverged"}
    assert cli_main(["status", str(out)]) == 0
    assert "failed" in capsys.readouterr().out


def test_a_failed_base_fails_its_runs(tmp_path):
    study = edited(seeds=[0], ratios=[0.5], base={**TINY["base"], "lr_schedule": "1e12"},
                   retrain={"epochs": 2, "lr_schedule": "0.01"})
    out = tmp_path / "out"
    assert run_study(write(tmp_path, study), out, progress=False) == 1
    rows = Store.open(out).rows()
    assert [r["status"] for r in rows] == ["diverged", "failed", "failed"]
    assert all(r["error"] == f"base model {rows[0]['run_id']} diverged" for r in rows[1:])
    assert all(r["attempts"] == 0 for r in rows[1:])  # never dispatched


def test_directory_of_another_study_and_second_driver_are_refused(finished, tmp_path):
    path, out = copy_study(finished, tmp_path)
    other = write(tmp_path, edited(name="other"), "other.yaml")
    with pytest.raises(ConfigError, match="holds study 'tiny', not 'other'"):
        run_study(other, out)
    with driver_lock(out):
        with pytest.raises(ConfigError, match="another prunebench run is driving this study"):
            run_study(path, out)


def test_changed_study_file_adds_runs_and_hides_removed_ones(finished, tmp_path):
    path, out = copy_study(finished, tmp_path)
    changed = write(tmp_path, edited(seeds=[0, 1], ratios=[0.5, 0.75]))
    assert run_study(changed, out, progress=False) == 0
    store = Store.open(out)
    assert sorted({r["ratio"] for r in store.rows(kind="run")}) == [0.5, 0.75]
    assert len(store.rows(kind="run", current_only=False)) == 12
    kept = [a for a in store.attempts() if a["outcome"] == "done"]
    assert len(kept) == 10 + 4  # the 0.5 runs and the bases were not run again


def test_status_of_a_non_study_directory(tmp_path, cli_main, capsys):
    assert cli_main(["status", str(tmp_path)]) == 2
    assert "not a study directory" in capsys.readouterr().err


def test_a_dead_worker_costs_the_runs_in_flight_one_retry_not_their_result(tmp_path):
    """A broken process pool fails every future in flight. The scheduler retries each such run once;
    only a run that breaks the pool again (the culprit) is recorded as failed."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from prunebench.study import expand, load_study
    from prunebench.study.driver import Scheduler

    exp = expand(load_study(write(tmp_path, edited(seeds=[0], ratios=[0.5], arms=[{"name": "l1"}]))), None)
    store = Store.create(tmp_path / "out")
    store.sync_jobs(exp.jobs)
    culprit = next(j.run_id for j in exp.jobs if j.kind == "run")
    calls = []

    class ScriptedPool:  # stands in for the pool only to script which futures break
        slots = 2

        def submit(self, payload):
            calls.append(payload["run_id"])
            fut = Future()
            if payload["run_id"] == culprit or len(calls) == 1:  # the base breaks once, the culprit always
                fut.set_exception(BrokenProcessPool("a worker died"))
            else:
                fut.set_result({"status": "done", "result": {"test_acc": 0.5}, "history": []})
            return fut

        def restart(self):
            pass

    Scheduler(store, ScriptedPool(), tmp_path / "out", None, progress=False, quiet=True).run()
    status = {r["run_id"]: r["status"] for r in store.rows()}
    base = next(j.run_id for j in exp.jobs if j.kind == "base")
    assert status[base] == "done" and status[culprit] == "failed"
    assert calls.count(base) == 2 and calls.count(culprit) == 2
    assert [a["outcome"] for a in store.attempts(base)] == ["worker died", "done"]
