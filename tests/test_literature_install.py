"""The literature report in a real headless browser, and the shipped tables read from an installed
(non-editable) copy of the package, the way a user gets them."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from prunebench.literature import DATASETS, audit_table, load_dataset
from prunebench.literature.report import write_literature_report

from test_report_browser import _browser, _chrome

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_literature_report_renders_in_headless_chromium(tmp_path):
    exe = _browser()
    tables = {d.name: load_dataset(d.name) for d in DATASETS}
    audits = [audit_table(name, rows) for name, rows in tables.items()]
    meta = {d.name: {"title": d.title, "source": d.source} for d in DATASETS}
    html = write_literature_report(tmp_path / "lit", audits, tables, meta)
    shot = tmp_path / "shot.png"
    res = _chrome(exe, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", html.resolve().as_uri())
    assert shot.exists(), f"no screenshot; chromium said: {res.stderr[-800:]}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1200, 2000)
    assert len(data) > 50_000  # a blank page compresses to a few KB
    dom = _chrome(exe, tmp_path, "--dump-dom", html.resolve().as_uri()).stdout
    assert '<table class="results" id="table-paper-table1-comparisons">' in dom
    assert "L1-norm (ICLR'17)" in dom and dom.count('src="data:image/png;base64,') == len(DATASETS) - 1


@pytest.mark.slow
def test_installed_wheel_ships_and_reads_the_tables(tmp_path):
    # Built from a clean copy of the sources: an in-tree build/ folder left by an earlier build could
    # otherwise hand the wheel files that the package-data declaration no longer ships.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(source)], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("prunebench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for d in DATASETS:
        assert f"prunebench/literature/data/{d.name}.csv" in names
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    probe = ("import prunebench, prunebench.literature as lit; print(prunebench.__file__); "
             "print(sum(len(lit.load_dataset(d.name)) for d in lit.DATASETS))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    where, count = run.stdout.split()
    assert where.startswith(str(site))  # the installed copy, not the checkout
    assert int(count) == sum(len(load_dataset(d.name)) for d in DATASETS)
