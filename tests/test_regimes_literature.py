"""The literature's retraining regimes (issue 13, items 2 and 3): fine-tune, slr, clr, allr resolve to
written-out schedules checked by hand, and ALLR's LR follows Zimmer et al.'s rule and clipping."""
import json
import math

import pytest
import torch
from torch import nn

from prunebench.artifacts import read_model_dir
from prunebench.config import TrainSpec, validate
from prunebench.errors import PrunebenchError
from prunebench.pipeline import RegimeSpec, resolve
from prunebench.pipeline.regimes import RegimeContext, allr_lr, norm_drop
from prunebench.schedule import parse

BASE = TrainSpec(epochs=6, lr_schedule="0:0.1,3:0.01,5:0.001", batch_size=64)


def ctx(d=None, s=None):
    return RegimeContext(BASE, dense_macs=100, pruned_macs=40, seed=3, norm_drop=d, pruned_fraction=s)


def test_allr_lr_on_a_hand_checked_case():
    # d / sqrt(s) * lr_max = 0.42 / 0.6 * 0.1 = 0.07, inside [min(3/6, 1) * 0.1, 0.1] = [0.05, 0.1]
    out = allr_lr(0.42, 0.36, 0.1, 3, 6)
    assert out["lr0"] == pytest.approx(0.07, abs=1e-12)
    assert out["lower"] == pytest.approx(0.05) and out["upper"] == 0.1 and out["clipped"] is None


def test_allr_lr_is_clipped_at_both_ends():
    low = allr_lr(0.06, 0.36, 0.1, 2, 10)  # 0.06 / 0.6 * 0.1 = 0.01 < 2/10 * 0.1 = 0.02
    assert (low["unclipped"], low["lr0"], low["clipped"]) == (pytest.approx(0.01), pytest.approx(0.02), "lower")
    high = allr_lr(0.9, 0.25, 0.1, 2, 10)  # 0.9 / 0.5 * 0.1 = 0.18 > 0.1
    assert (high["unclipped"], high["lr0"], high["clipped"]) == (pytest.approx(0.18), 0.1, "upper")
    # a retraining at least as long as the training: the lower bound is lr_max itself
    assert allr_lr(0.06, 0.36, 0.1, 12, 10)["lr0"] == 0.1
    with pytest.raises(PrunebenchError, match="pruned fraction"):
        allr_lr(0.1, 0.0, 0.1, 2, 10)


def test_norm_drop_by_hand():
    dense = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        dense.weight.copy_(torch.tensor([[3.0], [4.0]]))
    masked = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        masked.weight.copy_(torch.tensor([[0.0], [4.0]]))
    removed = nn.Linear(1, 1, bias=False)  # the same filter removed instead of zeroed
    with torch.no_grad():
        removed.weight.copy_(torch.tensor([[4.0]]))
    assert norm_drop(dense, masked) == pytest.approx(3 / 5)  # sqrt(25 - 16) / 5
    assert norm_drop(dense, removed) == pytest.approx(3 / 5)


def test_each_regime_resolves_to_a_written_out_schedule():
    r = resolve(RegimeSpec(name="fine-tune", epochs=4), ctx())
    assert (r.start, r.retrain.epochs, r.retrain.lr_schedule, r.pretrain_epochs) == ("final", 4, "0:1e-3", 6)
    r = resolve(RegimeSpec(name="slr", epochs=4), ctx())
    assert r.retrain.lr_schedule == "slr:peak=1e-1,start=1e-3,warmup=0.1,drops=0.5/0.75,factor=0.1"
    r = resolve(RegimeSpec(name="slr", epochs=4, lr=0.05, args={"warmup": 0.2}), ctx())
    assert r.retrain.lr_schedule == "slr:peak=5e-2,start=5e-4,warmup=0.2,drops=0.5/0.75,factor=0.1"
    r = resolve(RegimeSpec(name="clr", epochs=4), ctx())
    assert r.retrain.lr_schedule == "onecycle:peak=1e-1,start=1e-3,end=1e-5,warmup=0.1"
    r = resolve(RegimeSpec(name="allr", epochs=3), ctx(d=0.42, s=0.36))
    assert r.retrain.lr_schedule == "linear:peak=7e-2,start=0,end=0,warmup=0.1,shape=cos"
    assert r.derived["lr0"] == 0.07 and r.derived["norm_drop"] == 0.42 and r.derived["pruned_fraction"] == 0.36
    assert (r.retrain.epochs, r.retrain.batch_size, r.retrain.seed) == (3, 64, 3)


def test_allr_lrs_at_chosen_iterations():
    r = resolve(RegimeSpec(name="allr", epochs=2), ctx(d=0.9, s=0.25))  # clipped to lr_max = 0.1
    s = parse(r.retrain.lr_schedule)
    n = 20  # warm-up: round(0.1 * 20) = 2 iterations, half-cosine from 0
    assert s.lr_at_iteration(0, n) == 0.0
    assert s.lr_at_iteration(1, n) == pytest.approx(0.1 * (1 - math.cos(math.pi / 2)) / 2)
    assert s.lr_at_iteration(2, n) == pytest.approx(0.1)  # the peak, then linear to 0
    assert s.lr_at_iteration(11, n) == pytest.approx(0.1 * (1 - 9 / 17))
    assert s.lr_at_iteration(19, n) == pytest.approx(0.0)


def test_allr_before_pruning_has_its_shape_and_no_lr():
    r = resolve(RegimeSpec(name="allr", epochs=3), ctx())  # a study's dry check: nothing pruned yet
    assert r.derived["lr0"] is None and r.retrain.epochs == 3
    assert r.retrain.lr_schedule.startswith("linear:peak=1e-1,")


@pytest.mark.parametrize("fields, says", [
    ({"name": "fine-tune"}, "needs epochs"),
    ({"name": "allr"}, "needs epochs"),
    ({"name": "clr", "epochs": 2, "args": {"warmup": 1.0}}, "warmup"),
    ({"name": "slr", "epochs": 2, "extend": 2}, "extend"),
    ({"name": "fine-tune", "epochs": 2, "args": {"warmup": 0.1}}, "takes no args"),
    ({"name": "allr", "epochs": 2, "args": {"peak": 0.1}}, "peak"),
])
def test_malformed_literature_regimes_are_refused(fields, says):
    with pytest.raises(PrunebenchError, match=says):
        resolve(validate(RegimeSpec, fields), ctx(0.3, 0.5))


def test_fine_tune_refuses_a_base_that_ends_at_zero():
    base = TrainSpec(epochs=4, lr_schedule="linear:peak=0.1")
    with pytest.raises(PrunebenchError, match="ends at LR 0"):
        resolve(RegimeSpec(name="fine-tune", epochs=2), RegimeContext(base, 100, 40, 0))


def test_an_allr_run_records_its_lr_and_inputs(tmp_path):
    from small_pipeline import run_with_base, spec_of

    from prunebench.pruning import prune
    from prunebench.rng import derive_seed
    from prunebench.loading import load_model

    spec = spec_of(regime={"name": "allr", "epochs": 2})
    base, result = run_with_base(spec, tmp_path, "allr")
    derived = result["regime_derived"]
    dense, _ = load_model(base)
    pruned = prune(dense, spec.prune, seed=derive_seed(spec.seed, "criterion")).model
    assert derived["norm_drop"] == pytest.approx(norm_drop(dense, pruned), rel=1e-12)
    assert derived["pruned_fraction"] == result["sparsity"]
    expect = allr_lr(derived["norm_drop"], derived["pruned_fraction"], 0.1, 2, 6)
    assert derived == expect
    stored = json.loads((tmp_path / "allr" / "spec.json").read_text())["resolved"]
    assert stored["derived"] == derived
    assert parse(stored["retrain"]["lr_schedule"]).max_lr == expect["lr0"]
    history = read_model_dir(tmp_path / "allr").history
    assert history[0]["lr"] == 0.0  # the warm-up starts at 0
    assert max(h.get("lr_last", h["lr"]) for h in history) <= expect["lr0"] + 1e-12
