"""Plug-ins: loading (modules, files, entry points), one-line errors, every executor, provenance,
resume with changed code, studies from Python, and the worked example package (examples/)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from prunebench.errors import ConfigError
from prunebench.report.writer import results_csv
from prunebench.study import Store, study_rows

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "prunebench-fpgm"
BIN = Path(sys.executable).parent


def cli(*args, env_extra=None, cwd=None):
    env = {**os.environ, "PRUNEBENCH_PROGRESS": "0", **(env_extra or {})}
    return subprocess.run([str(BIN / "prunebench"), *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def small_study(tmp_path: Path, source: Path, name: str, **edits) -> Path:
    """The example study, cut to 2 arms x 1 ratio x 2 seeds (3 jobs a seed), next to a copy of the sources."""
    data = yaml.safe_load(source.read_text())
    data.update({"data": {"name": "mnist1d", "num_samples": 600}, "base": {"epochs": 2, "lr_schedule": "0:0.1,1:0.01"},
                 "retrain": {"epochs": 1, "lr": 0.01}, "arms": data["arms"][:2], "jsv_samples": 10, **edits})
    if not (tmp_path / "src").exists():
        shutil.copytree(EXAMPLE / "src", tmp_path / "src")
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example package, really installed (pip, no network: its only build need is setuptools)."""
    target, source = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("source") / "pkg"
    shutil.copytree(EXAMPLE, source)  # pip builds in the source tree: keep the checkout clean
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, timeout=300)
    return {"PYTHONPATH": str(target)}


# -- FPGM, the example criterion, on a hand-checkable case -------------------------------------------


def _load_example_criterion():
    from prunebench.plugins import load_plugin
    from prunebench.registry import CRITERIA

    load_plugin(str(EXAMPLE / "src" / "prunebench_fpgm" / "criterion.py"))
    return CRITERIA.get("fpgm")


def test_fpgm_scores_are_summed_distances_to_the_other_filters():
    from prunebench import ScoreInput

    fpgm = _load_example_criterion()()
    # filters [0], [1], [10]: g = 1+10, 1+9, 10+9 -> the filter nearest the median ([1]) goes first
    w = torch.tensor([[0.0], [1.0], [10.0]]).reshape(3, 1, 1)
    scores = fpgm.score(ScoreInput(name="conv", weight=w, seed=0))
    assert scores.tolist() == [11.0, 10.0, 19.0]


def test_the_example_plugins_meet_the_contract():
    from prunebench import testing
    from prunebench.plugins import load_plugin

    _load_example_criterion()
    load_plugin(str(EXAMPLE / "src" / "prunebench_fpgm" / "model.py"))
    testing.check_criterion("fpgm")
    testing.check_model("tinyres1d")


# -- one-line errors, nothing written -------------------------------------------------------------------


BROKEN = {
    "syntax.py": "def broken(:\n",
    "raises.py": "raise RuntimeError('no GPU here')\n",
    "taken.py": ("import prunebench\n@prunebench.register_criterion\nclass L1Again(prunebench.Criterion):\n"
                 "    name, granularities, description = 'l1', ('filter',), 'x'\n"
                 "    def score(self, inp):\n        return inp.weight.sum()\n"),
}


@pytest.mark.parametrize("case,words", [
    ("syntax.py", "failed to load: SyntaxError"),
    ("raises.py", "failed to load: RuntimeError: no GPU here"),
    ("taken.py", "criterion name 'l1' is already taken (registered by prunebench.pruning.criteria)"),
    ("missing.py", "no such file"),
    ("no_such_module_anywhere", "failed to load: ModuleNotFoundError"),
])
@pytest.mark.parametrize("where", ["flag", "study"])
def test_a_bad_plugin_is_one_line_exit_2_and_nothing_written(tmp_path, case, words, where, monkeypatch, capsys):
    if case in BROKEN:
        (tmp_path / case).write_text(BROKEN[case])
    study = yaml.safe_load((ROOT / "studies" / "smoke.yaml").read_text())
    args = []
    if where == "study":
        study["plugins"] = [case]
    else:
        args = ["--plugin", case if case.endswith(".py") is False else str(tmp_path / case)]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    from prunebench import cli as prunebench_cli

    assert prunebench_cli.main(["run", str(tmp_path / "s.yaml"), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert words in lines[0] and case.removesuffix(".py") in lines[0]
    assert not out.exists()


def test_a_criterion_from_a_script_cannot_go_to_pool_workers(tmp_path):
    from prunebench import Criterion, register_criterion
    from prunebench.study import run_study

    @register_criterion
    class Flat(Criterion):
        name, granularities, description = "test-main-flat", ("filter",), "index order"

        def score(self, inp):
            return torch.arange(inp.weight.shape[0], dtype=torch.float64)

    Flat.__module__ = "__main__"  # as if defined in a script or notebook
    from prunebench.registry import CRITERIA

    CRITERIA._origin["test-main-flat"] = "__main__"
    study = yaml.safe_load((ROOT / "studies" / "smoke.yaml").read_text())
    study["arms"][0]["criterion"] = "test-main-flat"
    with pytest.raises(ConfigError, match=r"criterion 'test-main-flat' registered in __main__ .* cannot be imported by pool or Ray workers"):
        run_study(study, tmp_path / "out", workers=2, progress=False)
    assert not (tmp_path / "out").exists()


# -- studies from Python -----------------------------------------------------------------------------------


def test_run_study_takes_a_dict_and_a_studyspec(tmp_path):
    from prunebench import StudySpec, run_study

    data = yaml.safe_load((ROOT / "studies" / "smoke.yaml").read_text())
    data.update(ratios=[0.5], seeds=[0], arms=data["arms"][:1], reference=data["arms"][0]["name"],
                base={**data["base"], "epochs": 2, "lr_schedule": "0:0.1,1:0.01"}, retrain={"epochs": 1, "lr": 0.01})
    assert run_study(data, tmp_path / "a", progress=False, quiet=True) == 0
    assert run_study(StudySpec.model_validate(data), tmp_path / "b", progress=False, quiet=True) == 0
    assert results_csv(study_rows(tmp_path / "a")) == results_csv(study_rows(tmp_path / "b"))
    assert Store.open(tmp_path / "a").get_meta("study_file") is None


# -- the example package, installed and not, in every executor -------------------------------------------------


def _provenance_plugins(study_dir: Path) -> list[list[dict]]:
    return [r["provenance"]["plugins"] for r in Store.open(study_dir).rows(kind="run")]


@pytest.mark.slow
def test_example_installed_runs_under_a_pool_and_matches_plugins_from_files(tmp_path, installed):
    study = small_study(tmp_path, EXAMPLE / "study.yaml", "study.yaml")
    res = cli("run", study, "--workers", "2", "--out", tmp_path / "pool", env_extra=installed)
    assert res.returncode == 0, res.stderr
    files = small_study(tmp_path, EXAMPLE / "study-plugins.yaml", "study-plugins.yaml")
    res = cli("run", files, "--workers", "2", "--out", tmp_path / "files")  # not installed: plugins: only
    assert res.returncode == 0, res.stderr
    assert results_csv(study_rows(tmp_path / "pool")) == results_csv(study_rows(tmp_path / "files"))
    rows = study_rows(tmp_path / "pool")
    assert {r["arm"] for r in rows} == {"fpgm", "l1"} and all(r["status"] == "done" for r in rows)
    for plugins in _provenance_plugins(tmp_path / "pool"):
        by_module = {p["module"]: p for p in plugins}
        crit = by_module["prunebench_fpgm.criterion"]
        assert crit["distribution"] == "prunebench-fpgm" and crit["version"] == "0.1.0" and len(crit["source_sha256"]) == 16
    for plugins in _provenance_plugins(tmp_path / "files"):
        assert sorted(Path(p["file"]).name for p in plugins) == ["criterion.py", "model.py"]
        assert all(p["version"] is None and len(p["source_sha256"]) == 16 for p in plugins)


@pytest.mark.slow
def test_example_installed_runs_under_ray(tmp_path, installed):
    pytest.importorskip("ray")
    study = small_study(tmp_path, EXAMPLE / "study.yaml", "study.yaml", seeds=[0])
    res = cli("run", study, "--executor", "ray", "--workers", "2", "--out", tmp_path / "ray", env_extra=installed)
    assert res.returncode == 0, res.stderr
    rows = study_rows(tmp_path / "ray")
    assert len(rows) == 2 and all(r["status"] == "done" for r in rows)
    for plugins in _provenance_plugins(tmp_path / "ray"):
        assert {"prunebench_fpgm.criterion", "prunebench_fpgm.model"} <= {p["module"] for p in plugins}


@pytest.mark.slow
def test_resuming_with_changed_plugin_code_says_which_and_can_be_accepted(tmp_path):
    study = small_study(tmp_path, EXAMPLE / "study-plugins.yaml", "study.yaml", seeds=[0], arms=[{"name": "fpgm", "criterion": "fpgm"}],
                        reference="fpgm")
    assert cli("run", study, "--out", tmp_path / "out").returncode == 0
    crit = tmp_path / "src" / "prunebench_fpgm" / "criterion.py"
    crit.write_text(crit.read_text() + "\n# a change\n")
    res = cli("run", study, "--out", tmp_path / "out")
    assert res.returncode == 2 and "plug-in code changed" in res.stderr and "criterion" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = cli("run", study, "--out", tmp_path / "out", "--accept-plugin-change")
    assert res.returncode == 0, res.stderr
    log = Store.open(tmp_path / "out").get_meta("plugin_changes")
    assert len(log) == 1 and "criterion" in log[0]["changes"][0]


def test_entry_points_are_discovered_on_first_lookup(installed):
    code = ("from prunebench.registry import CRITERIA, MODELS\n"
            "print(CRITERIA.origin('fpgm'), MODELS.meta('tinyres1d')['family'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **installed})
    assert out.stdout.split() == ["prunebench_fpgm.criterion", "generic"]
