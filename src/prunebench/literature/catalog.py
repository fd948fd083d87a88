"""The shipped literature dataset: published result tables as rows CSVs (package data).

Each table is one CSV under ``prunebench/literature/data/`` in the rows format of
:mod:`prunebench.fairness.rows_csv` (docs/fairness.md); every row names its ``source`` (paper and
table). Unknown cells are empty: unknown is a result, never a guess. The files are read through
:mod:`importlib.resources`, so an installed (zipped or not) package reads them as well as a checkout.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..fairness.rows_csv import parse_rows_text, read_rows_csv


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    source: str


#: The shipped tables, in the order ``prunebench literature list`` prints them.
DATASETS: tuple[Dataset, ...] = (
    Dataset("paper-table1", "ResNet-50 / ImageNet-1K: filter-pruning methods, top-1 and MACs speedup, "
            "with each method's retraining recipe as published",
            "Wang et al. 2023 (arXiv 2301.05219), Table 1 joined with Table 3"),
    Dataset("liu2019-l1", "L1-norm pruning (Li et al. 2017 models): fine-tuned vs Scratch-E vs Scratch-B",
            "Liu et al. 2019, Rethinking the Value of Network Pruning, Table 1"),
    Dataset("paper-table4", "ResNet-34 / ImageNet-100: scratch vs PxFy arms at six pruning ratios, mean ± std",
            "Wang et al. 2023, Table 4"),
    Dataset("paper-resnet56", "ResNet-56 / CIFAR-10: scratch, L1, L1+OrthP, TPP at retraining LR 1e-2 and 1e-3",
            "Wang et al. 2023, Table 6; Wang & Fu 2023 (TPP), Table 1"),
)
_BY_NAME = {d.name: d for d in DATASETS}


def dataset(name: str) -> Dataset:
    if name not in _BY_NAME:
        raise ConfigError(f"unknown literature dataset {name!r}; shipped: {', '.join(_BY_NAME)}")
    return _BY_NAME[name]


def dataset_text(name: str) -> str:
    """The CSV text of a shipped table."""
    dataset(name)
    return resources.files(__package__).joinpath("data", f"{name}.csv").read_text(encoding="utf-8")


def load_dataset(name: str) -> list[dict[str, Any]]:
    """The typed rows of a shipped table."""
    return parse_rows_text(dataset_text(name), f"literature dataset {name!r}")


def load_table(spec: str) -> tuple[str, list[dict[str, Any]]]:
    """``(table name, rows)`` for a shipped dataset name or a rows CSV file path."""
    if spec in _BY_NAME:
        return spec, load_dataset(spec)
    path = Path(spec)
    if path.suffix.lower() != ".csv" and not path.exists():
        raise ConfigError(f"{spec!r} is neither a shipped literature dataset ({', '.join(_BY_NAME)}) nor a file")
    rows = read_rows_csv(path)
    if not rows:
        raise DataError(f"{path}: no rows under the header")
    return path.stem, rows
