"""Grid expansion: a study file becomes one pipeline run per arm x ratio x seed, plus one base
(pretraining) run per distinct base recipe and seed, shared by every arm that needs it.

Every run spec is validated here, so a bad study file fails before anything is written.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import validate
from ..errors import ConfigError, PrunebenchError
from .check import check_base_model, check_run, external_base
from .fit import check_fit
from .job import Job
from .spec import ArmSpec, StudySpec, regime_fields, resolve_base_dir

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


def pipeline_dict(study: StudySpec, arm: ArmSpec, ratio: float, seed: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "data": study.data.model_dump(mode="json"),
        "model": (arm.model or study.model).model_dump(mode="json"),
        "base": base_fields(study),
        "prune": prune_fields(arm, ratio),
        "reinit": arm.reinit,
        "regime": regime_fields(study, arm),
        "seed": seed,
    }
    if arm.method_fields() is not None:
        data["method"] = arm.method_fields()
    if study.jsv_samples is not None:
        data["jsv_samples"] = study.jsv_samples
    if isinstance(study.base, str) and study.device is not None:
        data["device"] = study.device  # a directory base has no recipe to carry the device
    return data


def _run_job(study: StudySpec, arm: ArmSpec, ratio: float, seed: int, source: str, position: int) -> tuple[Job, Any]:
    from ..pipeline import PipelineSpec, snapshot_epochs
    from ..pipeline.stage import method_snapshots

    where = f"{source}: arm {arm.name!r} (ratio {ratio:g}, seed {seed})"
    try:
        spec = validate(PipelineSpec, pipeline_dict(study, arm, ratio, seed), where)
    except ConfigError:
        raise
    except PrunebenchError as err:  # a PruneError from inside the prune spec, say
        msg = str(err).splitlines()[0]
        raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    base_run = spec.base_run()
    meta = {"regime": spec.regime.name, "criterion": spec.prune.criterion, "reinit": spec.reinit}
    job = Job(
        run_id=spec.spec_hash(), kind="run", spec=spec.full_json(), seed=seed, arm=arm.name, ratio=ratio,
        base_id=base_run.spec_hash() if base_run is not None else None,
        base_path=study.base if isinstance(study.base, str) else None,
        snapshots=tuple(sorted(snapshot_epochs(spec.regime) | method_snapshots(spec))),
        device=spec.run_device,
        position=position, meta=meta,
    )
    return job, base_run


def _dry_run(job: Job, base_run: Any, external: Any, where: str) -> None:
    """The run must be able to start (see study/check.py)."""
    from ..pipeline import PipelineSpec

    spec = PipelineSpec.model_validate(job.spec)
    if external is not None:
        info, recipe = external
        check_base_model(info, spec.model, where)
    else:
        recipe = base_run.train
    check_fit(spec, recipe, where)  # the model takes the data, no LR step past the last epoch
    check_run(spec, recipe, where)


def expand(study: StudySpec, study_file: str | Path | None = None) -> Expansion:
    """Every run of the study, validated; raises a one-line ConfigError on the first problem."""
    source = str(study_file or "study")
    if study.compare is not None:  # every group of a grouped comparison must have its reference
        from .compare import group_references

        group_references(study, study.compare, where=source)
    base_dir = resolve_base_dir(study, Path(study_file) if study_file else None)
    external = external_base(base_dir, source) if base_dir is not None else None
    runs: list[Job] = []
    bases: dict[str, tuple[Any, set[int], str]] = {}
    seen: dict[str, str] = {}
    for arm in study.arms:
        check_arm_recipe(arm, source)
        for ratio in arm.ratios or study.ratios:
            for seed in study.seeds:
                job, base_run = _run_job(study, arm, ratio, seed, source, len(runs))
                label = f"arm {arm.name!r} ratio {ratio:g} seed {seed}"
                _dry_run(job, base_run, external, f"{source}: {label}")
                if job.run_id in seen:
                    raise ConfigError(f"{source}: {label} is the same run as {seen[job.run_id]} "
                                      f"(identical specs; does the prune spec use {PLACEHOLDER}?)")
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
