"""report.html opened in a real headless browser, when one is installed (skipped otherwise)."""
from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from prunebench.report import write_report

from test_report_writer import AUDIT, META, full_rows

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless chromium installed")


def _chrome(exe: str, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [exe, *FLAGS, f"--user-data-dir={profile}", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    exe = _browser()
    html = write_report(tmp_path / "study", full_rows(), META, AUDIT)
    url = html.resolve().as_uri()
    shot = tmp_path / "shot.png"
    res = _chrome(exe, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", url)
    assert shot.exists(), f"no screenshot; chromium said: {res.stderr[-800:]}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 2000)
    assert len(data) > 50_000  # a blank page compresses to a few KB; tables and figures do not

    dom = _chrome(exe, tmp_path, "--dump-dom", url).stdout
    assert '<table class="results" id="table-accuracy">' in dom
    assert "l1-lr0.01" in dom and dom.count('src="data:image/png;base64,') == 5
