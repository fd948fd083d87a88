"""Ratio specs: parsing, resolution against models, the per-layer count rule, one-line errors."""
import pytest

from prunebench.errors import PruneError
from prunebench.metrics.complexity import count
from prunebench.models import build_model
from prunebench.pruning import PruneSpec, n_removed, parse_prune_arg, parse_ratio
from prunebench.pruning.layers import discover
from prunebench.pruning.ratios import resolve


def _ratios(model, spec):
    layers = discover(model, count(model, model.zoo_args["input_shape"]), spec.granularity)
    from prunebench.pruning.layers import family_of

    return layers, resolve(spec, layers, family_of(model))


def test_removed_count_is_float_safe_ceil_and_keeps_one():
    assert 0.07 * 100 > 7 and 0.28 * 100 > 28  # the float trap the rule guards against
    assert n_removed(0.07, 100) == 7 and n_removed(0.28, 100) == 28
    assert n_removed(0.7, 100) == 70
    assert n_removed(0.1, 16) == 2  # ceil(1.6)
    assert n_removed(0.6, 16) == 10  # ceil(9.6)
    assert n_removed(0.3, 64) == 20  # ceil(19.2)
    assert n_removed(0.99, 3) == 2  # at most n-1
    assert n_removed(0.5, 1) == 0
    assert n_removed(0.0, 100) == 0


def test_parse_forms():
    assert parse_ratio(0.5).uniform == 0.5
    assert parse_ratio("0.5").kind == "uniform"
    assert parse_ratio("[0, 0.6, 0.3, 0.1, 0]").stages == (0, 0.6, 0.3, 0.1, 0)
    form = parse_ratio("[0-5:0.8, 6:0]")
    assert [(e.lo, e.hi, e.ratio) for e in form.entries] == [(0, 5, 0.8), (6, 6, 0.0)]
    form = parse_ratio("*layer1*.conv1:0.6,*layer2*.conv1:0.3")
    assert [(e.pattern, e.ratio) for e in form.entries] == [("*layer1*.conv1", 0.6), ("*layer2*.conv1", 0.3)]


def test_spec_canonical_forms_hash_equal():
    a = PruneSpec(ratio="[0-5:0.8, 6:0]")
    b = PruneSpec(ratio="0-5:0.8,6:0")
    assert a.ratio == b.ratio == "0-5:0.8,6:0" and a.spec_hash() == b.spec_hash()
    assert PruneSpec(ratio="[0,0.6,0.3,0.1,0]").ratio == [0, 0.6, 0.3, 0.1, 0]
    assert PruneSpec(ratio="0.5").ratio == 0.5
    assert PruneSpec(ratio=0.5, skip="3, *fc*").skip == [3, "*fc*"]


@pytest.mark.parametrize("text, message", [
    ("1.2", "pruning ratio 1.2 is outside [0, 1)"),
    ("-0.1", "outside [0, 1)"),
    ("[0, 0.5, 1.0, 0, 0]", "stage ratio 2 1.0 is outside [0, 1)"),
    ("*conv1:abc", "is not a number"),
    ("3-1:0.5", "is backwards"),
    ("[0, 0.5", "unbalanced brackets"),
    ("0.5,,0.3", "empty entry"),
    ("[0.1, 2:0.3]", "mixes plain numbers"),
    ("nonsense", "neither a ratio spec nor a preset"),
])
def test_malformed_specs_one_line(text, message):
    with pytest.raises(PruneError) as err:
        parse_prune_arg(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_spec_field_errors():
    with pytest.raises(PruneError, match="unknown criterion 'nope'; valid:"):
        PruneSpec(ratio=0.5, criterion="nope")
    with pytest.raises(PruneError, match="does not score granularity 'weight'"):
        PruneSpec(ratio=0.5, criterion="l1", granularity="weight")
    with pytest.raises(PruneError, match="scope 'global' is for granularity 'weight'"):
        PruneSpec(ratio=0.5, scope="global")
    with pytest.raises(PruneError, match="has no argument 'x'"):
        PruneSpec(ratio=0.5, criterion_args={"x": 1})


def test_mlp_index_ranges_count_the_output_layer():
    model = build_model("mlp7-linear", seed=0)
    layers, ratios = _ratios(model, PruneSpec(ratio="[0-5:0.8, 6:0]"))
    assert [l.index for l in layers] == list(range(7))
    assert [ratios[l.name] for l in layers] == [0.8] * 6 + [0.0]
    with pytest.raises(PruneError, match=r"layer 6 \(layers.6\) is not prunable"):
        _ratios(model, PruneSpec(ratio="[0-6:0.5]"))
    with pytest.raises(PruneError, match="layer index 7 is out of range"):
        _ratios(model, PruneSpec(ratio="[0-7:0.5]"))


def test_uniform_follows_family_conventions():
    resnet = build_model("resnet20", seed=0, shortcut="B")
    layers, ratios = _ratios(resnet, PruneSpec(ratio=0.5))
    pruned = sorted(n for n, p in ratios.items() if p > 0)
    assert pruned == sorted(f"layer{s}.{b}.conv1" for s in (1, 2, 3) for b in range(3))
    # shortcut convs are reachable by name but carry no index; numbering matches option A
    assert [l.index for l in layers if "shortcut" in l.name] == [None, None]
    assert max(l.index for l in layers if l.index is not None) == 19
    vgg = build_model("vgg16", seed=0)
    _, ratios = _ratios(vgg, PruneSpec(ratio=0.5))
    assert ratios["features.0"] == 0.0 and ratios["features.3"] == 0.5 and ratios["classifier.0"] == 0.0
    # ...but VGG's first conv may be named explicitly (Li et al.'s VGG-16-pruned-A does)
    _, ratios = _ratios(vgg, PruneSpec(ratio="0:0.5"))
    assert ratios["features.0"] == 0.5
    r50 = build_model("resnet50", (3, 64, 64), seed=0)
    _, ratios = _ratios(r50, PruneSpec(ratio=0.3))
    assert ratios["layer1.0.conv1"] == ratios["layer1.0.conv2"] == 0.3 and ratios["layer1.0.conv3"] == 0.0
    r18 = build_model("resnet18", (3, 64, 64), seed=0)
    _, ratios = _ratios(r18, PruneSpec(ratio=0.3))
    assert ratios["layer1.0.conv1"] == 0.3 and ratios["layer1.0.conv2"] == 0.0


def test_stage_lists_patterns_and_skips():
    model = build_model("resnet20", seed=0)
    layers, ratios = _ratios(model, PruneSpec(ratio=[0, 0.6, 0.3, 0.1, 0], skip=[1, "*layer3.2*"]))
    assert ratios["layer1.0.conv1"] == 0.0  # index 1 skipped
    assert ratios["layer1.1.conv1"] == 0.6 and ratios["layer2.0.conv1"] == 0.3
    assert ratios["layer3.1.conv1"] == 0.1 and ratios["layer3.2.conv1"] == 0.0
    _, ratios = _ratios(model, PruneSpec(ratio="*layer*.conv1:0.6,*layer2*.conv1:0.3"))
    assert ratios["layer1.0.conv1"] == 0.6 and ratios["layer2.2.conv1"] == 0.3  # later overrides
    with pytest.raises(PruneError, match="stage ratio list has 6 entries; this model needs 5"):
        _ratios(model, PruneSpec(ratio=[0, 0.1, 0.1, 0.1, 0, 0]))
    with pytest.raises(PruneError, match=r"stage ratio 0 \(stem\) is 0.5, but that stage has no prunable layer"):
        _ratios(model, PruneSpec(ratio=[0.5, 0.1, 0.1, 0.1, 0]))
    with pytest.raises(PruneError, match="skip entry '\\*nothing\\*': pattern '\\*nothing\\*' matches no"):
        _ratios(model, PruneSpec(ratio=0.5, skip=["*nothing*"]))
    with pytest.raises(PruneError, match="per-stage ratio lists are for ResNets"):
        _ratios(build_model("vgg11", seed=0), PruneSpec(ratio=[0, 0.5]))


def test_presets_parse_and_accept_overrides():
    spec = parse_prune_arg("li-resnet56-b")
    assert spec.preset == "li-resnet56-b" and spec.ratio == [0, 0.6, 0.3, 0.1, 0]
    assert spec.skip == [15, 17, 19, 33, 37, 53]  # Li's layers 16, 18, 20, 34, 38, 54, from 0
    assert parse_prune_arg("li-resnet56-b", criterion="random").criterion == "random"


def test_equal_entry_specs_are_spelled_and_hashed_alike():
    from prunebench.pruning import PruneSpec

    specs = [PruneSpec(ratio=r) for r in ("0:0.5", "0:.5", "[0 : 0.50]", ["0:0.5"])]
    assert {s.ratio for s in specs} == {"0:0.5"}
    assert len({s.spec_hash() for s in specs}) == 1
    assert PruneSpec(ratio="[0-5:0.80, 6:0.0]").ratio == "0-5:0.8,6:0"


def test_pruning_leaves_the_dense_models_per_module_modes_alone():
    from prunebench.models import build_model
    from prunebench.pruning import prune

    dense = build_model("resnet20", seed=0)
    dense.train()
    dense.bn1.eval()
    prune(dense, 0.5)
    assert dense.training and not dense.bn1.training
