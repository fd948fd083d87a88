"""Size limits of study inputs (issue 15, item 9): the YAML reader's bounds, the grid-size limit, and a
10^5-run grid validating in seconds, its size printed first."""
from __future__ import annotations

import time

import pytest
import yaml

from prunebench.config import MAX_YAML_NODES, parse_yaml
from prunebench.errors import ConfigError
from prunebench.pipeline import PipelineSpec
from prunebench.study.driver import prepare
from prunebench.study.grid import MAX_RUNS, _run_job, expand
from prunebench.study.spec import parse_study
from study_fixture import STUDY

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def grid(arms: int, ratios: int, seeds: int) -> dict:
    # 256 units: the ratios (steps of 0.9 / (ratios + 1)) each leave another width (ratios that give the
    # identical pruned model are refused)
    return {**STUDY, "model": {"name": "mlp", "args": {"depth": 3, "width": 256}}, "arms": [{"name": f"a{i}", "criterion": ("l1", "random")[i % 2], "retrain": {"lr": 0.01 * (i + 1)}}
                              for i in range(arms)],
            "ratios": [round(0.9 * (i + 1) / (ratios + 1), 6) for i in range(ratios)],
            "seeds": list(range(seeds)), "reference": "a0"}


def test_an_alias_counts_as_the_whole_node_it_names(monkeypatch):
    import prunebench.config as config

    # 1 + 9 x (1 + 9 x (1 + 9)) = 820 values below "c" once expanded, from three short lines.
    text = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    assert len(parse_yaml(text, "t")["c"]) == 9
    monkeypatch.setattr(config, "MAX_YAML_NODES", 800)
    with pytest.raises(ConfigError, match="line 3: .*more than 800 values"):
        parse_yaml(text, "t")
    monkeypatch.setattr(config, "MAX_YAML_NODES", 1000)
    assert parse_yaml(text, "t")["b"][0] == ["x"] * 9


def test_an_alias_bomb_is_refused_while_it_is_read():
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    start = time.monotonic()
    with pytest.raises(ConfigError, match="aliases are expanded"):
        parse_yaml("\n".join(lines) + "\n", "bomb.yaml")  # 10^9 values from 9 lines
    assert time.monotonic() - start < 5
    assert MAX_YAML_NODES < 10 ** 7


def test_duplicate_keys_are_refused_by_name_and_line():
    with pytest.raises(ConfigError, match=r"line 3: duplicate key 'seeds'"):
        parse_yaml("name: x\nseeds: [0]\nseeds: [1]\n", "s.yaml")
    assert parse_yaml("a: {x: 1}\nb: {x: 2}\n", "s.yaml") == {"a": {"x": 1}, "b": {"x": 2}}  # same key, other maps


def test_seeds_share_one_validated_spec_and_keep_the_ids_of_full_validation():
    study = parse_study(grid(3, 4, 5), "g")
    exp = expand(study)
    assert len(exp.runs) == 60 and len(exp.bases) == 5
    for job in exp.runs:
        slow, _, _ = _run_job(study, study.arm(job.arm), job.ratio, job.seed, "g", job.position)
        assert slow == job
        assert PipelineSpec.model_validate(job.spec).spec_hash() == job.run_id


def test_a_grid_over_the_limit_is_refused_before_it_is_expanded(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(grid(10, 1000, 101)))
    start = time.monotonic()
    with pytest.raises(ConfigError, match=f"1,010,000 runs .* at most {MAX_RUNS:,}"):
        prepare(path, tmp_path / "out")
    assert time.monotonic() - start < 5
    assert not (tmp_path / "out").exists()


def test_a_grid_of_10_5_runs_validates_in_seconds_and_says_its_size_first(tmp_path, capsys):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(grid(10, 100, 100)))
    start = time.monotonic()
    expansion, _ = prepare(path, tmp_path / "out")
    took = time.monotonic() - start
    assert len(expansion.runs) == 100_000 and len(expansion.bases) == 100
    assert len({j.run_id for j in expansion.runs}) == 100_000
    assert "validating 100,000 runs" in capsys.readouterr().err
    assert took < 30, f"{took:.1f} s"  # about 3 s on one core; a full validation of every seed took ~50 s
    assert not (tmp_path / "out").exists()


def test_only_true_and_false_are_booleans_so_on_is_a_key():
    # YAML 1.1 reads on/off/yes/no as booleans: `tune: {on: validation}` would have the key True.
    assert parse_yaml("tune: {on: validation}\na: yes\nb: off\nc: true\nd: False\n", "s.yaml") == {
        "tune": {"on": "validation"}, "a": "yes", "b": "off", "c": True, "d": False}
