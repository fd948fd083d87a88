"""Per-iteration schedules (issue 13 item 1): LRs at chosen iterations equal hand-computed values,
the canonical forms, refusals, and the training loop steps them (history records them)."""
import json
import math

import pytest

from prunebench import schedule as sched
from prunebench.cli import main
from prunebench.config import TrainRunSpec, validate
from prunebench.errors import ConfigError
from prunebench.train import Callback
from prunebench.train.loop import steps_per_epoch
from prunebench.train.run import prepare, run_training


def test_linear_warmup_then_linear_decay_by_hand():
    s = sched.parse("linear:peak=0.1,warmup=0.2")  # N = 10: warm-up 2 iterations, decay over 8
    lrs = [s.lr_at_iteration(t, 10) for t in range(10)]
    assert lrs[0] == 0.0 and lrs[1] == pytest.approx(0.05) and lrs[2] == pytest.approx(0.1)
    assert lrs[5] == pytest.approx(0.1 - 0.1 * 3 / 7) and lrs[9] == pytest.approx(0.0)
    cos = sched.parse("linear:peak=0.1,warmup=0.2,shape=cos")  # half-cosine warm-up: r = (1 - cos(pi/2))/2
    assert cos.lr_at_iteration(1, 10) == pytest.approx(0.05) and cos.lr_at_iteration(2, 10) == pytest.approx(0.1)
    cos4 = sched.parse("linear:peak=0.1,warmup=0.4,shape=cos")  # warm-up 4: t=1 -> (1 - cos(pi/4))/2
    assert cos4.lr_at_iteration(1, 10) == pytest.approx(0.1 * (1 - math.sqrt(0.5)) / 2)


def test_onecycle_shape_by_hand():
    s = sched.parse({"kind": "onecycle", "peak": 0.1})  # Le & Hua: start 1e-3, end 1e-5, 10% warm-up
    assert str(s) == "onecycle:peak=1e-1,start=1e-3,end=1e-5,warmup=0.1"
    n = 21  # warm-up round(2.1) = 2 iterations; decay u = (t - 2)/18
    assert s.lr_at_iteration(0, n) == pytest.approx(1e-3)
    assert s.lr_at_iteration(1, n) == pytest.approx(1e-3 + (0.1 - 1e-3) / 2)
    assert s.lr_at_iteration(2, n) == pytest.approx(0.1)
    assert s.lr_at_iteration(11, n) == pytest.approx(1e-5 + (0.1 - 1e-5) / 2)
    assert s.lr_at_iteration(20, n) == pytest.approx(1e-5)


def test_slr_drops_by_hand():
    s = sched.parse("slr:peak=0.1")  # N = 20: warm-up 2; D = 18; drops at 2+9 = 11 and 2+floor(13.5) = 15
    lrs = [s.lr_at_iteration(t, 20) for t in range(20)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[2] == pytest.approx(0.1) and lrs[10] == pytest.approx(0.1)
    assert lrs[11] == pytest.approx(0.01) and lrs[14] == pytest.approx(0.01)
    assert lrs[15] == pytest.approx(0.001) and lrs[19] == pytest.approx(0.001)
    assert s.final_lr == pytest.approx(0.001)


def test_canonical_forms_round_trip_and_mapping_equals_string():
    for text in ("linear:peak=0.1,start=0,end=0,warmup=0.1,shape=cos", "slr:peak=0.05,drops=0.4/0.8,factor=0.2",
                 "onecycle:peak=0.1,start=0.01,end=0.001,warmup=0"):
        canon = sched.normalize(text)
        assert sched.normalize(canon) == canon
    assert sched.normalize({"kind": "slr", "peak": 0.1, "drops": [0.5, 0.75]}) == sched.normalize("slr:peak=1e-1")
    assert sched.normalize("0:0.1,30:0.01") == "0:1e-1,30:1e-2"  # the old forms are unchanged


@pytest.mark.parametrize("bad", [
    "linear:peak=0.1,warmup=1", "linear:peak=0.1,warmup=1.5", "onecycle:start=0.01", "slr:peak=0.1,drops=0.8/0.5",
    "linear:peak=0.1,shape=square", "onecycle:peak=0.1,end=0.5", "slr:peak=0.1,factor=2", "linear:peak=0.1,bogus=1",
    {"kind": "cyclic", "peak": 0.1}, "onecycle:peak=-1",
])
def test_malformed_schedules_are_one_line_errors(bad):
    with pytest.raises(ConfigError) as err:
        sched.parse(bad)
    assert "\n" not in str(err.value)


def test_cli_refuses_a_warmup_as_long_as_the_run(tmp_path, capsys):
    spec = {"data": {"name": "synthetic", "input_shape": [1, 12], "num_classes": 3, "num_samples": 64},
            "model": {"name": "mlp", "args": {"depth": 2, "width": 8}},
            "train": {"epochs": 2, "lr_schedule": "linear:peak=0.1,warmup=1", "batch_size": 32}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "out"
    assert main(["train", "--config", str(path), "--out", str(out)]) == 2
    assert "warmup" in capsys.readouterr().err and not out.exists()


class _StepLRs(Callback):
    def __init__(self):
        self.seen = []

    def on_step_end(self, state):
        self.seen.append(state.optimizer.param_groups[0]["lr"])


def test_training_loop_steps_every_iteration_and_records_it(tmp_path):
    fields = {"data": {"name": "synthetic", "input_shape": [1, 12], "num_classes": 3, "num_samples": 192},
              "model": {"name": "mlp", "args": {"depth": 2, "width": 8}},
              "train": {"epochs": 2, "lr_schedule": "onecycle:peak=0.1,warmup=0.25", "batch_size": 32}}
    spec = validate(TrainRunSpec, fields)
    data, model, device = prepare(spec)
    steps = _StepLRs()
    outcome = run_training(model, data, spec, run_id="x", work=tmp_path / "w", device=device,
                           extra_callbacks=[steps], progress=False)
    n = len(steps.seen)
    s = spec.train.schedule
    assert n == 2 * steps_per_epoch(data, 32) and n >= 4  # every step was seen
    assert steps.seen == pytest.approx([s.lr_at_iteration(t, n) for t in range(n)])
    per = n // 2
    first, second = outcome.history
    assert first["lr"] == pytest.approx(1e-3) and second["lr"] == pytest.approx(s.lr_at_iteration(per, n))
    assert second["lr_last"] == pytest.approx(1e-5)
    assert first["lr_mean"] == pytest.approx(sum(steps.seen[:per]) / per)
