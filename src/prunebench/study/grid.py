"""Grid expansion: a study file becomes one pipeline run per arm x ratio x seed, plus one base
(pretraining) run per distinct base recipe and seed, shared by every arm that needs it.

Every run spec is validated here, so a bad study file fails before anything is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import hash_canonical, validate
from ..errors import ConfigError, PrunebenchError
from .check import check_base_model, check_run, external_base, pruned_architecture
from .fit import check_fit
from .job import Job
from .spec import ArmSpec, StudySpec, regime_fields, resolve_base_dir
from .tuning import check_tunable

PLACEHOLDER = "{ratio}"


@dataclass(frozen=True)
class Expansion:
    study: StudySpec
    jobs: list[Job]  # bases first, then runs in study-file order
    base_dir: Path | None  # the external base model directory, if the study names one

    @property
    def runs(self) -> list[Job]:
        return [j for j in self.jobs if j.kind == "run"]

    @property
    def bases(self) -> list[Job]:
        return [j for j in self.jobs if j.kind == "base"]


def fill_ratio(value: Any, ratio: float) -> Any:
    """Put ``ratio`` into a prune template: ``"{ratio}"`` anywhere in a string, or an unquoted
    ``{ratio}`` in a YAML list (which YAML reads as the mapping ``{"ratio": None}``)."""
    if isinstance(value, str):
        return ratio if value.strip() == PLACEHOLDER else value.replace(PLACEHOLDER, repr(ratio))
    if isinstance(value, dict):
        if value == {"ratio": None}:
            return ratio
        return {k: fill_ratio(v, ratio) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_ratio(v, ratio) for v in value]
    return value


def prune_fields(arm: ArmSpec, ratio: float) -> dict[str, Any]:
    """The PruneSpec fields of ``arm`` at ``ratio``, with a sanity arm's ``sanity`` (study/sanity.py)."""
    from .sanity import prune_sanity

    fields = _prune_fields(arm, ratio)
    if prune_sanity(arm) is not None:
        fields = {**fields, "sanity": prune_sanity(arm)}
    return fields


def _prune_fields(arm: ArmSpec, ratio: float) -> dict[str, Any]:
    """The PruneSpec fields of ``arm`` at ``ratio`` (omitted prune = uniform ``ratio``)."""
    explicit_criterion = "criterion" in arm.model_fields_set
    prune = arm.prune
    if prune is None:
        return {"ratio": ratio, "criterion": arm.criterion}
    if isinstance(prune, str) and PLACEHOLDER not in prune:
        from ..registry import PRESETS

        if prune.strip() in PRESETS:
            fields = PRESETS.get(prune.strip()).spec.model_dump(mode="json", exclude_defaults=True)
            fields["preset"] = prune.strip()
            if explicit_criterion:
                fields["criterion"] = arm.criterion
            return fields
    if isinstance(prune, dict):
        fields = fill_ratio(prune, ratio)
        fields.setdefault("criterion", arm.criterion)
        return fields
    return {"ratio": fill_ratio(prune, ratio), "criterion": arm.criterion}


def check_arm_recipe(arm: ArmSpec, source: str) -> None:
    """A schedule field an arm sets for itself must be one its regime reads (a study-wide default in
    ``retrain:`` is only a default: arms whose regime does not read it do not use it)."""
    from ..pipeline.regimes import SCHEDULE_FIELDS, get_regime

    if arm.retrain is None:
        return
    choice = arm.regime_choice()
    regime = get_regime(choice.name)
    given = arm.retrain.model_dump(exclude_none=True)
    unread = [k for k in SCHEDULE_FIELDS if k in given and k not in regime.reads]
    if unread:
        raise ConfigError(f"{source}: arm {arm.name!r}: regime {choice.name!r} does not read retrain.{unread[0]} "
                          f"(it reads {', '.join(regime.reads) or 'no schedule field'})")


def base_fields(study: StudySpec) -> dict[str, Any]:
    if isinstance(study.base, str):
        return {"model_dir": study.base}
    train = study.base.model_dump(mode="json")
    train.pop("seed", None)
    if study.device is not None:
        train["device"] = study.device
    return {"train": train}


def pipeline_dict(study: StudySpec, arm: ArmSpec, ratio: float, seed: int, lr: float | None = None) -> dict[str, Any]:
    """One run's PipelineSpec fields (``lr``: a tuning candidate's LR, study/tuning.py)."""
    from .tuning import candidate_fields

    regime = regime_fields(study, arm)
    data: dict[str, Any] = {
        "data": study.data.model_dump(mode="json"),
        "model": (arm.model or study.model).model_dump(mode="json"),
        "base": base_fields(study),
        "prune": prune_fields(arm, ratio),
        "reinit": arm.reinit,
        "regime": regime if lr is None else candidate_fields(regime, lr),
        "seed": seed,
    }
    if arm.method_fields() is not None:
        data["method"] = arm.method_fields()
    if study.jsv_samples is not None:
        data["jsv_samples"] = study.jsv_samples
    if isinstance(study.base, str) and study.device is not None:
        data["device"] = study.device  # a directory base has no recipe to carry the device
    return data


def _run_job(study: StudySpec, arm: ArmSpec, ratio: float, seed: int, source: str, position: int,
             lr: float | None = None) -> tuple[Job, Any, Any]:
    from ..pipeline import PipelineSpec, snapshot_epochs
    from ..pipeline.stage import method_snapshots

    where = f"{source}: arm {arm.name!r} (ratio {ratio:g}, seed {seed}{'' if lr is None else f', lr {lr:g}'})"
    try:
        spec = validate(PipelineSpec, pipeline_dict(study, arm, ratio, seed, lr), where)
    except ConfigError:
        raise
    except PrunebenchError as err:  # a PruneError from inside the prune spec, say
        msg = str(err).splitlines()[0]
        raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    base_run = spec.base_run()
    meta = {"regime": spec.regime.name, "criterion": spec.prune.criterion, "reinit": spec.reinit}
    if arm.sanity is not None:  # a sanity-check arm and the arm it checks (the report pairs them)
        meta.update(sanity=arm.sanity, of=arm.of)
    if lr is not None:  # a tuning candidate: the report and the audit keep the best on validation
        meta["tune"] = {"lr": lr, "grid": list(arm.tune.lr), "per": arm.tune.per}
    job = Job(
        run_id=spec.spec_hash(), kind="run", spec=spec.full_json(), seed=seed, arm=arm.name, ratio=ratio,
        base_id=base_run.spec_hash() if base_run is not None else None,
        base_path=study.base if isinstance(study.base, str) else None,
        snapshots=tuple(sorted(snapshot_epochs(spec.regime) | method_snapshots(spec))),
        device=spec.run_device,
        position=position, meta=meta,
    )
    return job, base_run, spec


#: The most pipeline runs one study may have (arms x ratios x seeds): a larger grid is refused
#: before any run is expanded. 10^5 runs validate in a few seconds (bench/grid_validation.py).
MAX_RUNS = 100_000


def grid_size(study: StudySpec) -> int:
    """The number of pipeline runs of a study, counted without expanding it."""
    return sum(len(arm.ratios or study.ratios) * (len(arm.tune.lr) if arm.tune is not None else 1)
               for arm in study.arms) * len(study.seeds)


def check_grid_size(study: StudySpec, source: str) -> None:
    n = grid_size(study)
    if n > MAX_RUNS:
        raise ConfigError(f"{source}: {n:,} runs ({len(study.arms)} arms, {len(study.seeds)} seeds); "
                          f"a study may have at most {MAX_RUNS:,}: split it into several studies")


class _Template:
    """The validated spec of one (arm, ratio) at its first seed; the runs of its other seeds are
    the same spec with another seed (ids hashed from the same canonical form, field for field)."""

    def __init__(self, spec: Any, first: Job) -> None:
        self.spec = spec
        self.canonical = {k: v for k, v in spec.canonical().items() if k != "seed"}
        self.full = spec.full_json()
        self.meta = first.meta  # regime, criterion, reinit; sanity and tuning candidates
        self.snapshots = first.snapshots
        self.base_path = first.base_path
        base = spec.base_run()
        self.base_key = None if base is None else json.dumps(
            {k: v for k, v in base.canonical().items() if k != "train"} | {"train": {
                k: v for k, v in base.canonical().get("train", {}).items() if k != "seed"}}, sort_keys=True)

    def run_id(self, seed: int) -> str:
        canon = dict(self.canonical)
        if seed != 0:  # the canonical form drops a field at its default, as Spec.canonical does
            canon["seed"] = seed
        return hash_canonical(canon)

    def job(self, seed: int, arm: str, ratio: float, position: int,
            base_runs: dict[tuple[str, int], tuple[Any, str]]) -> tuple[Job, Any]:
        base_run, base_id = None, None
        if self.base_key is not None:
            found = base_runs.get((self.base_key, seed))
            if found is None:
                run = self.spec.model_copy(update={"seed": seed}).base_run()
                found = base_runs[(self.base_key, seed)] = (run, run.spec_hash())
            base_run, base_id = found
        job = Job(
            run_id=self.run_id(seed), kind="run", spec={**self.full, "seed": seed}, seed=seed, arm=arm, ratio=ratio,
            base_id=base_id, base_path=self.base_path, snapshots=self.snapshots,
            device=self.spec.run_device, position=position, meta=dict(self.meta),
        )
        return job, base_run


def _dry_run(job: Job, base_run: Any, external: Any, where: str) -> Any:
    """The run must be able to start (see study/check.py)."""
    from ..pipeline import PipelineSpec

    spec = PipelineSpec.model_validate(job.spec)
    if external is not None:
        info, recipe = external
        check_base_model(info, spec.model, where)
    else:
        recipe = base_run.train
    try:
        check_fit(spec, recipe, where)  # the model takes the data, no LR step past the last epoch
    except PrunebenchError as err:  # a regime that cannot resolve (a tuning LR below the final one, say)
        msg = str(err).splitlines()[0]
        raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    check_run(spec, recipe, where)
    return spec


def _one_ratio_per_column(study: StudySpec, where: str) -> None:
    """Across arms too, two different ratios the report would print as one column are refused (it
    would compare arms at ratios that are not the same)."""
    from .spec import RATIO_DIGITS

    columns: dict[object, tuple[float, str]] = {}
    for arm in study.arms:
        for r in arm.ratios or study.ratios:
            for key in (round(r, RATIO_DIGITS), f"{r:g}"):
                other, name = columns.setdefault(key, (r, arm.name))
                if other != r:
                    raise ConfigError(f"{where}: arm {arm.name!r}'s ratio {r!r} and arm {name!r}'s {other!r} are equal at "
                                      f"the precision the report prints ({r:g}) but differ; use one value")


def _distinct_architecture(spec: Any, ratio: float, shapes: dict[str, float], where: str) -> None:
    """Two ratios of one arm that leave the identical pruned model are one experiment reported as
    two (pooled or duplicated columns): refused. Only where the architecture follows from the
    ratio alone (per-layer scope): a global ranking depends on the trained weights, which the dry
    run does not have."""
    if spec.prune.scope != "layer":
        return
    shape = pruned_architecture(spec)
    other = shapes.setdefault(shape, ratio)
    if other != ratio:
        raise ConfigError(f"{where}: ratios {other!r} and {ratio!r} give the identical pruned architecture "
                          "(same widths, params and MACs); keep one of them")


def expand(study: StudySpec, study_file: str | Path | None = None) -> Expansion:
    """Every run of the study, validated; raises a one-line ConfigError on the first problem, which
    starts with the study file (and the arm, where one arm is at fault) like every study error."""
    source = str(study_file or "study")
    try:
        return _expand(study, study_file, source)
    except PrunebenchError as err:  # a check below that did not say where (a safety net)
        if str(err).startswith(source):
            raise
        raise type(err)(f"{source}: {err}") from None


def _arm_checks(arm: ArmSpec, study: StudySpec, source: str) -> None:
    """The checks of one arm before its runs are built; an error from inside (an unknown regime name,
    from the registry) names the file and the arm."""
    try:
        check_arm_recipe(arm, source)
        check_tunable(arm, study, source)
    except PrunebenchError as err:
        if str(err).startswith(source):
            raise
        raise ConfigError(f"{source}: arm {arm.name!r}: {err}") from None


def _expand(study: StudySpec, study_file: str | Path | None, source: str) -> Expansion:
    if study.compare is not None:  # every group of a grouped comparison must have its reference
        from .compare import group_references

        group_references(study, study.compare, where=source)
    base_dir = resolve_base_dir(study, Path(study_file) if study_file else None)
    external = external_base(base_dir, source) if base_dir is not None else None
    check_grid_size(study, source)
    runs: list[Job] = []
    bases: dict[str, tuple[Any, set[int], str]] = {}
    seen: dict[str, str] = {}
    base_runs: dict[tuple[str, int], tuple[Any, str]] = {}
    _one_ratio_per_column(study, source)
    for arm in study.arms:
        _arm_checks(arm, study, source)
        candidates = arm.tune.lr if arm.tune is not None else [None]
        shapes: dict[str, float] = {}  # pruned architecture -> the ratio that gave it (this arm)
        for ratio, lr in ((r, c) for r in arm.ratios or study.ratios for c in candidates):
            template: _Template | None = None
            for seed in study.seeds:
                label = f"arm {arm.name!r} ratio {ratio:g} seed {seed}" + ("" if lr is None else f" lr {lr:g}")
                if template is None:
                    # The first seed of an (arm, ratio, candidate) is validated and dry-run in full; the
                    # other seeds' specs differ from it in the seed alone (a StrictInt the study checked).
                    job, base_run, spec = _run_job(study, arm, ratio, seed, source, len(runs), lr)
                    spec = _dry_run(job, base_run, external, f"{source}: {label}")
                    template, first = _Template(spec, job), True
                else:
                    job, base_run = template.job(seed, arm.name, ratio, len(runs), base_runs)
                    first = False
                if job.run_id in seen:
                    raise ConfigError(f"{source}: {label} is the same run as {seen[job.run_id]} "
                                      f"(identical specs; does the prune spec use {PLACEHOLDER}?"
                                  + (" A tuning candidate cannot also be another arm's run: drop that LR from the grid or the arm)"
                                     if lr is not None or " lr " in seen[job.run_id] else ")"))
                if first and lr == candidates[0]:  # the architecture depends on neither seed nor LR
                    _distinct_architecture(template.spec, ratio, shapes, f"{source}: arm {arm.name!r}")
                seen[job.run_id] = label
                runs.append(job)
                if base_run is not None:
                    _, snaps, device = bases.setdefault(job.base_id, (base_run, set(), job.device))
                    snaps.update(job.snapshots)
    base_jobs = [
        Job(run_id=bid, kind="base", spec=run.full_json(), seed=run.train.seed, snapshots=tuple(sorted(snaps)),
            device=device, position=i)
        for i, (bid, (run, snaps, device)) in enumerate(bases.items())
    ]
    return Expansion(study, base_jobs + runs, base_dir)
