"""No regime setting is taken in and silently dropped (issue 11, item 4): walk every built-in regime
and every RegimeSpec field.

Each field set on top of the regime's own example either changes the resolved recipe, or is refused
with one line naming it. The one exception is the regime contract's (pipeline/regimes/base.py): a
schedule field a regime does not ``read`` (``lr`` for the scratch regimes, say) stays in a pipeline
spec when it comes from a study's default ``retrain:`` recipe (keeping the run ids of existing
studies), and is refused when a study arm writes it for itself.
"""
import pytest

from prunebench.config import TrainSpec, validate
from prunebench.errors import PrunebenchError
from prunebench.pipeline import RegimeSpec, resolve
from prunebench.pipeline.regimes import SCHEDULE_FIELDS, RegimeContext, get_regime
from prunebench.registry import REGIMES

BASE = TrainSpec(epochs=8, lr_schedule="0:0.1,4:0.01,6:0.001", batch_size=64, momentum=0.9, weight_decay=5e-4)
CTX = RegimeContext(BASE, dense_macs=100, pruned_macs=40, seed=0)
BUILTIN = ("retrain", "lr-rewind", "weight-rewind", "scratch-e", "scratch-b", "pxfy", "fine-tune", "slr", "clr", "allr")

#: Another valid value of every field, set on top of a regime's example.
OTHER = {
    "epochs": 3, "lr_schedule": "0:0.05,1:0.005", "lr": 0.005, "final_lr": 5e-3, "extend": 2, "rewind_epoch": 3,
    "prune_epoch": 3, "squeeze": True, "scratch_b": "liu", "batch_size": 32, "momentum": 0.5, "nesterov": True,
    "weight_decay": 1e-3,
}
#: Accepted and not read, knowingly: Liu et al.'s Scratch-B formula int(K1*F1/F2) has no K2, and the
#: spec RegimeSpec(name="scratch-b", epochs=4, scratch_b="liu") is pinned (tests/test_pinned_ids.py).
KNOWN = {("scratch-b", "epochs+liu")}


def test_every_field_has_a_probe():
    assert set(OTHER) == set(RegimeSpec.model_fields) - {"name", "args"}


def _fields(name, field):
    fields = dict(get_regime(name).example, name=name)
    fields[field] = OTHER[field]
    if field in ("lr", "final_lr"):
        fields.pop("lr_schedule", None)
    if field == "final_lr":
        fields["lr"] = 0.01  # final_lr alone is refused (test below)
    return fields


def _baseline(name, field):
    fields = _fields(name, field)
    fields.pop(field)
    return fields


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("field", sorted(OTHER))
def test_a_setting_takes_effect_or_is_refused(name, field):
    assert name in REGIMES.names()
    try:
        before = resolve(validate(RegimeSpec, _baseline(name, field)), CTX)
    except PrunebenchError:  # final_lr's baseline sets lr, which this regime may refuse
        before = resolve(validate(RegimeSpec, dict(get_regime(name).example, name=name)), CTX)
    try:
        spec = validate(RegimeSpec, _fields(name, field))
    except PrunebenchError as err:
        assert field in str(err) and "\n" not in str(err)
        return
    if resolve(spec, CTX) != before:
        return
    regime = get_regime(name)
    if field in SCHEDULE_FIELDS and field not in regime.reads:
        _assert_refused_on_an_arm(name, field)
        return
    assert (name, "epochs+liu") in KNOWN and field == "epochs", f"regime {name!r} accepted {field} and ignored it"


def _assert_refused_on_an_arm(name, field):
    from prunebench.study.grid import check_arm_recipe
    from prunebench.study.spec import ArmSpec

    regime = {k: v for k, v in get_regime(name).example.items() if k in ("prune_epoch", "rewind_epoch", "squeeze", "scratch_b")}
    arm = validate(ArmSpec, {"name": "a", "regime": {"name": name, **regime}, "retrain": {field: OTHER[field]}})
    with pytest.raises(PrunebenchError, match=f"does not read retrain.{field}"):
        check_arm_recipe(arm, "s.yaml")


def test_final_lr_without_lr_is_refused():
    with pytest.raises(PrunebenchError, match="final_lr is the end of a schedule derived from lr"):
        validate(RegimeSpec, {"name": "retrain", "epochs": 4, "lr_schedule": "0:0.1", "final_lr": 1e-3})
    with pytest.raises(PrunebenchError, match="give lr too"):
        validate(RegimeSpec, {"name": "pxfy", "prune_epoch": 2, "final_lr": 1e-3})
