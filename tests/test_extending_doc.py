"""The regime example of docs/extending.md, run as written (the doc must match the code)."""
import re
from pathlib import Path

import pytest

from prunebench import testing
from prunebench.config import TrainSpec
from prunebench.errors import ConfigError
from prunebench.pipeline.regimes import RegimeContext, resolve
from prunebench.pipeline.spec import RegimeSpec

DOC = Path(__file__).resolve().parent.parent / "docs" / "extending.md"


def _regime_example() -> str:
    text = DOC.read_text()
    section = text.split("## 4. A regime", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_documented_regime_example_works():
    exec(compile(_regime_example(), str(DOC), "exec"), {"__name__": "docs_extending_example"})
    testing.check_regime("scaled-tail")
    ctx = RegimeContext(TrainSpec(epochs=6, lr_schedule="0:0.1,3:0.01,5:0.001"), 1000, 500, 0)
    resolved = resolve(RegimeSpec(name="scaled-tail", epochs=2, args={"factor": 0.25}), ctx)
    assert resolved.retrain.lrs() == pytest.approx([0.0025, 0.00025])  # the base's last 2 epochs x 0.25
    with pytest.raises(ConfigError, match="factor"):
        RegimeSpec(name="scaled-tail", epochs=2, args={"factor": "big"})
    with pytest.raises(ConfigError, match="has no parameter 'squeeze'"):
        RegimeSpec(name="scaled-tail", epochs=2, squeeze=True)


def test_the_documented_method_example_works():
    text = DOC.read_text().split("## 4b. A method", 1)[1]
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    from prunebench.registry import METHODS

    exec(compile(code, str(DOC), "exec"), {"__name__": "docs_extending_method"})
    try:
        testing.check_method("decay-then-l1")
        with pytest.raises(ConfigError, match="strength"):
            METHODS.get("decay-then-l1")().args({"strength": -1})
    finally:
        METHODS._items.pop("decay-then-l1", None)
