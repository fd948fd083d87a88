"""No regime setting is accepted and ignored (issue 11, item 4): walk every regime and every field."""
import pytest
from pydantic import ValidationError

from prunebench.config import TrainSpec, validate
from prunebench.errors import PrunebenchError
from prunebench.pipeline import RegimeSpec, resolve
from prunebench.pipeline.regime_fields import USES
from prunebench.pipeline.regimes import REGIMES, RegimeContext

BASE = TrainSpec(epochs=8, lr_schedule="0:0.1,4:0.01,6:0.001", batch_size=64, momentum=0.9, weight_decay=5e-4)
CTX = RegimeContext(BASE, dense_macs=100, pruned_macs=40, seed=0)

#: A valid spec of each regime, with what it needs and nothing else.
MINIMAL = {
    "retrain": {"epochs": 4, "lr_schedule": "0:0.01"},
    "lr-rewind": {"epochs": 4},
    "weight-rewind": {"rewind_epoch": 2},
    "scratch-e": {"epochs": 2},
    "scratch-b": {"epochs": 2},
    "pxfy": {"prune_epoch": 2},
}
#: One other valid value per field, to set on top of MINIMAL (lr replaces lr_schedule where one is given).
OTHER = {
    "epochs": 3, "lr_schedule": "0:0.05,1:0.005", "lr": 0.01, "final_lr": 1e-4, "extend": 2, "rewind_epoch": 3,
    "prune_epoch": 3, "squeeze": True, "scratch_b": "liu", "batch_size": 32, "momentum": 0.5, "nesterov": True,
    "weight_decay": 1e-3,
}


def test_every_builtin_regime_is_in_the_table_and_every_field_has_a_probe():
    assert set(USES) == set(REGIMES.names()) == set(MINIMAL)
    assert set(OTHER) == set(RegimeSpec.model_fields) - {"name"}


def _given(name, field):
    fields = dict(MINIMAL[name], name=name, **{field: OTHER[field]})
    if field == "lr":
        fields.pop("lr_schedule", None)
    if field == "final_lr":  # final_lr is the end of a schedule derived from lr
        fields.pop("lr_schedule", None)
        fields["lr"] = 0.01
    return fields


@pytest.mark.parametrize("name", sorted(MINIMAL))
@pytest.mark.parametrize("field", sorted(OTHER))
def test_a_setting_takes_effect_or_is_refused(name, field):
    fields = _given(name, field)
    baseline = dict(fields)
    baseline.pop(field)
    if field == "final_lr":
        try:
            before = resolve(validate(RegimeSpec, baseline), CTX)
        except PrunebenchError:  # the regime refuses lr itself: final_lr alone must be refused too
            with pytest.raises(PrunebenchError, match="final_lr"):
                validate(RegimeSpec, MINIMAL[name] | {"name": name, "final_lr": OTHER[field]})
            return
    else:
        before = resolve(validate(RegimeSpec, MINIMAL[name] | {"name": name}), CTX)
    try:
        spec = validate(RegimeSpec, fields)
    except PrunebenchError as err:
        assert field in str(err) and "\n" not in str(err)
        return
    after = resolve(spec, CTX)
    assert after != before, f"regime {name!r} accepted {field}={OTHER[field]!r} and ignored it"


def test_refusals_are_one_line_and_name_what_the_regime_reads():
    with pytest.raises(PrunebenchError, match=r"regime 'scratch-e' does not use lr; it reads only batch_size"):
        validate(RegimeSpec, {"name": "scratch-e", "lr": 0.01})
    with pytest.raises(PrunebenchError, match="does not use epochs"):  # Liu's formula ignores K2
        validate(RegimeSpec, {"name": "scratch-b", "scratch_b": "liu", "epochs": 40})
    with pytest.raises(PrunebenchError, match="give lr too"):
        validate(RegimeSpec, {"name": "retrain", "epochs": 4, "lr_schedule": "0:0.1", "final_lr": 1e-3})


def test_a_study_default_recipe_reaches_only_the_regimes_that_read_it(tmp_path):
    from prunebench.study.grid import expand
    from prunebench.study.spec import load_study

    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\ndata: {name: mnist1d}\nmodel: {name: cnn1d}\n"
        "base: {epochs: 4, lr_schedule: '0:0.1,2:0.01'}\nretrain: {epochs: 4, lr: 0.01}\n"
        "arms: [{name: l1, criterion: l1}, {name: scratch, criterion: l1, regime: scratch-e}]\n"
        "ratios: [0.5]\nseeds: [0]\nreference: l1\n")
    runs = {j.arm: j.spec["regime"] for j in expand(load_study(path), path).runs}
    assert runs["l1"]["lr"] == 0.01
    assert runs["scratch"]["lr"] is None and runs["scratch"]["epochs"] == 4
    # written on the arm itself it is refused, not dropped
    path.write_text(path.read_text().replace("regime: scratch-e}", "regime: scratch-e, retrain: {lr: 0.1}}"))
    with pytest.raises(PrunebenchError, match="does not use lr"):
        expand(load_study(path), path)
