"""Factorial arms, grouped comparisons (compare within / by), paired tests in a real study, the CLI's
--reference / --compare / --strict / --dry-run and `run DIR`."""
from __future__ import annotations

import copy
import json
from itertools import product

import pytest
import yaml

import prunebench.cli as cli
from prunebench.errors import ConfigError
from prunebench.report import aggregate
from prunebench.study import audit_study, expand, run_study
from prunebench.study.compare import comparison_plan
from prunebench.study.rows import study_meta
from prunebench.study.spec import parse_study

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# 3 criteria x 2 retraining LRs x 2 seeds on MNIST-1D (a tiny cnn1d, a few epochs: about 10 s).
FACTORIAL = {
    "name": "factorial",
    "data": {"name": "mnist1d", "num_samples": 600},
    "model": {"name": "cnn1d", "args": {"channels": [8, 8, 8]}},
    "base": {"epochs": 2, "lr_schedule": "0:0.1,1:0.01", "batch_size": 64},
    "retrain": {"epochs": 2, "final_lr": 0.001},
    "arms": [{"criterion": ["l1", "taylor", "bn-scale"], "retrain": {"lr": [0.01, 0.001]}}],
    "ratios": [0.5],
    "seeds": [0, 1],
    "reference": "l1",
    "compare": {"within": ["retrain.lr"]},
    "jsv_samples": 4,
}
NAMES = [f"{c}/lr{lr:g}" for c, lr in product(["l1", "taylor", "bn-scale"], [0.01, 0.001])]


def by_hand():
    """The same six arms written out one by one (other names: ids never depend on names)."""
    study = copy.deepcopy(FACTORIAL)
    study["arms"] = [{"name": f"hand-{c}-{lr}", "criterion": c, "retrain": {"lr": lr}}
                     for c, lr in product(["l1", "taylor", "bn-scale"], [0.01, 0.001])]
    study["reference"] = "hand-l1-0.01"
    return study


@pytest.fixture
def cli_main(monkeypatch):
    if "study" not in cli.GROUPS:
        monkeypatch.setattr(cli, "GROUPS", [*cli.GROUPS, "study"])
    return cli.main


def test_factorial_arms_expand_to_the_hand_written_arms_with_the_same_run_ids():
    fact = parse_study(copy.deepcopy(FACTORIAL), "f.yaml")
    assert [a.name for a in fact.arms] == NAMES and fact.reference == "l1/lr0.01"
    hand = parse_study(by_hand(), "h.yaml")
    ids_fact = [j.run_id for j in expand(fact).jobs]
    ids_hand = [j.run_id for j in expand(hand).jobs]
    assert len(ids_fact) == 14 and ids_fact == ids_hand  # 2 bases + 6 arms x 1 ratio x 2 seeds
    # A name prefixes the level labels; booleans and schedules label as written.
    named = copy.deepcopy(FACTORIAL)
    named["arms"] = [{"name": "p", "criterion": ["l1", "random"], "reinit": ["keep", "fresh"]}]
    named.pop("compare")
    assert [a.name for a in parse_study(named, "n.yaml").arms] == ["p/l1/keep", "p/l1/fresh", "p/random/keep", "p/random/fresh"]


def test_grouped_references_and_their_errors():
    fact = parse_study(copy.deepcopy(FACTORIAL), "f.yaml")
    plan = comparison_plan({"study": fact.model_dump(mode="json"), "reference": fact.reference})
    assert plan["references"] == {n: ("l1/lr0.01" if n.endswith("lr0.01") else "l1/lr0.001") for n in NAMES}
    assert plan["compare"] == {"within": ["retrain.lr"], "by": []}
    by = comparison_plan({"study": fact.model_dump(mode="json"), "reference": fact.reference}, compare="by=criterion")
    assert by["references"] == plan["references"] and by["compare"]["within"] == ["retrain.lr"]
    # A level without an arm matching the reference elsewhere is refused before anything runs.
    lonely = copy.deepcopy(FACTORIAL)
    lonely["arms"] = [{"criterion": ["l1", "taylor"], "retrain": {"lr": [0.01]}},
                      {"name": "t", "criterion": "taylor", "retrain": {"lr": 0.001}}]
    with pytest.raises(ConfigError, match=r"compare: the group retrain.lr=0.001 has no arm that matches the reference 'l1/lr0.01'"):
        expand(parse_study(lonely, "l.yaml"), "l.yaml")
    bad = copy.deepcopy(FACTORIAL)
    bad["compare"] = {"within": ["retrain.colour"]}
    with pytest.raises(ConfigError, match=r"compare.within: unknown factor 'retrain.colour'"):
        parse_study(bad, "b.yaml")
    with pytest.raises(ConfigError, match=r"factor criterion repeats the level l1"):
        parse_study({**FACTORIAL, "arms": [{"criterion": ["l1", "l1"]}]}, "d.yaml")


@pytest.fixture(scope="module")
def factorial_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("factorial")
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(FACTORIAL))
    assert run_study(path, root / "out", progress=False, quiet=True) == 0
    return path, root / "out"


def _flips(d):
    """Sign-flip p of two differences, the four patterns written out."""
    obs = abs(d[0] + d[1])
    sums = [abs(d[0] + d[1]), abs(d[0] - d[1]), abs(-d[0] + d[1]), abs(-d[0] - d[1])]
    return sum(s >= obs - 1e-12 for s in sums) / 4


def test_factorial_study_pairs_each_criterion_with_l1_at_its_own_lr(factorial_dir):
    _, out = factorial_dir
    from prunebench.study import study_rows

    rows = study_rows(out)
    meta = study_meta(out)
    plan = comparison_plan(meta)
    agg = aggregate(rows, plan["reference"], plan["references"])
    acc = {(r["arm"], r["seed"]): r["test_acc"] for r in rows}
    tested = 0
    for crit, lr in product(["taylor", "bn-scale"], ["0.01", "0.001"]):
        g = agg.get(f"{crit}/lr{lr}", 0.5)
        assert g.reference == f"l1/lr{lr}" and g.comparison.test == "paired" and g.comparison.n == 2
        d = [acc[(f"{crit}/lr{lr}", s)] - acc[(f"l1/lr{lr}", s)] for s in (0, 1)]
        assert g.comparison.diff == pytest.approx(sum(d) / 2)
        assert g.comparison.p_perm == _flips(d)
        tested += 1
    assert tested == 4
    audit = audit_study(out)
    summary = audit["summary"]
    assert summary["compare"]["within"] == ["retrain.lr"] and summary["meets_target"] and not summary["short"]
    assert summary["n_pairs"] == 8
    for pair in audit["pairs"]:
        assert pair["a"].split("/")[1] == pair["arm"].split("/")[1]  # same LR level
        assert "retrain_lr" not in pair["differs"]


def test_audit_cli_names_the_varied_factor_strict_and_compare_none(factorial_dir, cli_main, capsys):
    _, out = factorial_dir
    assert cli_main(["audit", str(out), "--strict"]) == 0
    text = capsys.readouterr().out
    assert "0 of 8 fall short of S3.2" in text and "the study varies retrain.lr on purpose" in text
    assert "│ bn-scale/lr0.001@0.5/seed1 │" in text  # in a pipe, cells are not cut at 80 columns
    # Without the grouping, l1/lr0.01 is every arm's reference: the LR differs for half of them.
    assert cli_main(["audit", str(out), "--compare", "none", "--strict", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert len(result["summary"]["short"]) == 6
    assert {tuple(s["differs"]) for s in result["summary"]["short"]} == {("retrain_lr",)}
    assert cli_main(["audit", str(out), "--reference", "taylor/lr0.001", "--compare", "none", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["reference"] == "taylor/lr0.001"
    assert cli_main(["audit", str(out), "--compare", "colour=red"]) == 2
    assert "--compare must be within=FACTOR" in capsys.readouterr().err


def test_report_reference_and_compare_flags_without_rerunning(factorial_dir, cli_main, capsys, tmp_path):
    import shutil

    _, src = factorial_dir
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    assert cli_main(["report", str(out)]) == 0
    md = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert "| vs l1/lr0.001: " in md and "paired n=2" in md and "sign-flip permutation" in md
    from prunebench.study import study_rows

    sparsity = {round(r["sparsity"] * 100, 1) for r in study_rows(out)}
    assert len(sparsity) == 1
    assert (f"- cnn1d (cnn1d): pruning ratio p = the fraction of filters removed from every conv layer (never the "
            f"classifier). Parameter sparsity in this study: ratio 0.5: {sparsity.pop():.1f}% of the parameters.") in md
    assert cli_main(["report", str(out), "--compare", "none", "--reference", "bn-scale/lr0.01"]) == 0
    md = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert "| vs bn-scale/lr0.01: " in md and "| vs l1/lr0.001: " not in md
    assert "bn-scale/lr0.01 vs l1/lr0.001: strictest setup S3.1; differs in overall_lr, retrain_lr" in md
    assert "| bn-scale/lr0.01 (reference) |" in md


def test_dry_run_shows_the_expansion_and_writes_nothing(tmp_path, cli_main, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(FACTORIAL))
    assert cli_main(["run", str(path), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "6 arm(s), 12 run(s), 2 base run(s); nothing written" in text
    for name in NAMES:
        assert f"  {name}: criterion {name.split('/')[0]}" in text
    assert "taylor/lr0.001: criterion taylor, reinit keep, regime retrain, retrain lr 0.001" in text
    assert "; vs l1/lr0.001" in text and "compared within equal retrain.lr" in text
    assert not (tmp_path / "out").exists()


def test_run_dir_resumes_the_study_it_holds(factorial_dir, cli_main, capsys, tmp_path):
    import shutil

    path, src = factorial_dir
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    assert cli_main(["run", str(out), "--no-progress"]) == 0
    from prunebench.study import Store

    store = Store.open(out)
    try:
        assert store.counts()["done"] == 14 and len(store.attempts()) == 14  # nothing ran again
    finally:
        store.close()
    # The recorded study file gone: DIR/study.yaml (the expanded study) is read back, same runs, same ids.
    store = Store.open(out, write=True)
    try:
        store.set_meta("study_file", str(tmp_path / "gone.yaml"))
    finally:
        store.close()
    assert cli_main(["run", str(out), "--no-progress"]) == 0
    store = Store.open(out)
    try:
        assert store.counts()["done"] == 14 and len(store.attempts()) == 14
        assert len(store.rows()) == 14  # no run added: the ids read back equal
    finally:
        store.close()
    assert cli_main(["run", str(tmp_path)]) == 2
    assert "not a study directory (no study.sqlite)" in capsys.readouterr().err
