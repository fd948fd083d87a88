"""Read-only and full disks (issue 15, item 8): a read-only copy of a study reads as well as the original
(status, results, report --out), and a full disk during a run or a report ends with one line, the store
consistent, a resume then giving the results of an uninterrupted study."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from prunebench.cli import main
from study_fixture import copy_study, finished_study, make_read_only, make_writable, write_study

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def cli(argv, capsys):
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def limited(argv, limit_bytes: int, cwd: Path) -> subprocess.CompletedProcess:
    """`prunebench ARGV` in a child process that may write no file past ``limit_bytes`` (RLIMIT_FSIZE:
    a write past it fails with EFBIG, as a full disk fails with ENOSPC)."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    env = {**os.environ, "PRUNEBENCH_PROGRESS": "0"}
    return subprocess.run([sys.executable, "-c", "import sys; from prunebench.cli import main; sys.exit(main())", *map(str, argv)], cwd=cwd, env=env,
                          preexec_fn=limit, capture_output=True, text=True, timeout=120)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("prunebench: error:"), proc.stderr
    return lines[0]


@pytest.fixture
def read_only_copy(tmp_path):
    study = copy_study(tmp_path / "ro")
    if not make_read_only(study):
        pytest.skip("cannot make a directory read-only here")
    yield study
    make_writable(study)


def test_status_results_and_report_of_a_read_only_copy(read_only_copy, tmp_path, capsys):
    original = finished_study()
    code, out, err = cli(["status", read_only_copy], capsys)
    assert code == 0, err
    assert "3/3 finished" in out
    code, ro_csv, err = cli(["results", read_only_copy], capsys)
    assert code == 0, err
    _, csv, _ = cli(["results", original], capsys)
    assert ro_csv == csv and csv.count("\n") == 3
    # The report cannot go inside a read-only study: one line that says where it can go instead ...
    code, out, err = cli(["report", read_only_copy], capsys)
    assert code == 2 and err.count("\n") == 1 and "--out" in err and "Traceback" not in err
    # ... and it goes there.
    code, out, err = cli(["report", read_only_copy, "--out", tmp_path / "elsewhere"], capsys)
    assert code == 0, err
    assert (tmp_path / "elsewhere" / "report.html").is_file()
    assert "| l1 (reference) |" in (tmp_path / "elsewhere" / "report.md").read_text()


def test_a_full_disk_during_report_says_so_and_keeps_the_previous_report(tmp_path, capsys):
    study = copy_study(tmp_path / "s")
    assert cli(["report", study], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in (study / "report").iterdir() if p.is_file()}
    line = one_error_line(limited(["report", study], 20_000, tmp_path))
    assert "disk full" in line and "report" in line
    after = {p.name: p.read_bytes() for p in (study / "report").iterdir() if p.is_file()}
    assert after == before
    assert not list(study.glob(".report-*"))


@pytest.mark.parametrize("width,limit", [(16, 60_000), (16, 200_000), (256, 300_000)],
                         ids=["database-at-start", "database-mid-run", "model-directory"])
def test_a_full_disk_during_run_stops_in_one_line_and_resume_gives_the_same_results(tmp_path, capsys, width, limit):
    """The database fills up at start-up or between runs, or (width 256: 0.5 MB of weights) a worker
    cannot write its model directory: one line, the run stays pending (not failed), and resuming
    once there is room gives what an uninterrupted study gives."""
    model = {"name": "mlp", "args": {"depth": 3, "width": width}}
    path = write_study(tmp_path / "study.yaml", model=model)
    line = one_error_line(limited(["run", path, "--out", tmp_path / "out", "--no-progress"], limit, tmp_path))
    assert "disk full" in line
    code, out, _ = cli(["status", tmp_path / "out"], capsys)
    assert "failed" not in out
    code, _, err = cli(["run", path, "--out", tmp_path / "out", "--no-progress"], capsys)
    assert code == 0, err
    _, resumed, _ = cli(["results", tmp_path / "out"], capsys)
    if width == 16:
        clean_dir = finished_study()
    else:
        clean_dir = tmp_path / "clean"
        assert cli(["run", path, "--out", clean_dir, "--no-progress"], capsys)[0] == 0
    _, clean, _ = cli(["results", clean_dir], capsys)
    assert resumed == clean and clean.count("\n") == 3


def test_a_full_disk_under_other_commands_is_one_line_too(tmp_path):
    """`prunebench train` writing its model directory (safetensors reports the error as "os error 27")."""
    proc = limited(["train", "--model", "mlp", "--data", "synthetic", "--epochs", "1", "--lr-schedule", "0:0.1",
                    "--out", tmp_path / "m"], 20_000, tmp_path)
    assert "disk full" in one_error_line(proc)
    assert not (tmp_path / "m").exists()


def test_output_piped_into_head_is_not_an_error(tmp_path):
    """A closed stdout (``| head``) ends quietly with status 0, as before the storage errors were added."""
    study = copy_study(tmp_path / "s")
    env = {**os.environ, "PRUNEBENCH_PROGRESS": "0"}
    code = "import sys; from prunebench.cli import main; sys.exit(main())"
    proc = subprocess.Popen([sys.executable, "-c", code, "results", str(study)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0
    assert b"Traceback" not in proc.stderr.read()
