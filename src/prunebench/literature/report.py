"""The literature audit report: Markdown + self-contained HTML + CSV, built in a temporary folder and
swapped in (like a study's report), with one accuracy-vs-speedup figure per table."""
from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from ..errors import DataError
from ..report import document as doc
from ..report import tables
from ..report.plots import DPI, FigureInfo
from .compare import compression
from .flags import PAIR_RULES, ROW_RULES

#: Marker and colour of a point by the strictest setup its comparison meets.
STYLE = {
    "reference": ("*", "#000000"), "S4.2": ("P", "#1a9850"), "S4.1": ("P", "#66bd63"), "S3.2": ("D", "#a6d96a"),
    "S3.1": ("s", "#fee08b"), "S2": ("^", "#fdae61"), "S1": ("o", "#f46d43"), "none": ("x", "#d73027"),
    "not compared": (".", "#999999"),
}


LEGEND = {"none": "no chain setup", "reference": "the reference"}


def _figure(width: float, height: float):
    """A matplotlib Figure on an Agg canvas (pyplot and the global backend are never touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _text(value: Any) -> tables.Cell:
    return tables.Cell(text="–" if value in (None, "", []) else str(value))


def _flags_text(flags: list[dict[str, str]]) -> str:
    return "; ".join(f"{f['rule']}: {f['message']}" for f in flags)


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def comparison_table(audit: dict[str, Any]) -> tables.Table:
    rows = []
    for c in audit["comparisons"]:
        delta = "" if c["delta"] is None else f" ({c['delta']:+.2f})"
        paper = c["paper_setup"] or ""
        if paper:
            paper += " (holds)" if paper in c["holds"] else " (not in the strict chain result)"
            if c.get("table4") is not None:  # the audit's own Table 4 label, where the classifier gives one
                paper += f"; computed Table 4 label: {c['table4']}"
        cells = (c["a"], f"{_num(c['top1_b'])}{delta}", c["rate"] or "none", c["strictest"] or "none",
                 " ".join(c["holds"]), " ".join(c["unknown"]), ", ".join(c["missing"]), paper, _flags_text(c["flags"]))
        rows.append(tables.Row(c["b"], tuple(_text(x) for x in cells)))
    return tables.Table(f"{audit['table']}-comparisons", f"{audit['table']}: comparisons ({audit['mode']})",
                        "row", ("compared with", "top1 (Δ)", "rate matched on", "strictest", "holds", "unknown",
                                f"missing for {audit['summary']['target']}", "paper's label", "flags"), tuple(rows))


def row_table(audit: dict[str, Any]) -> tables.Table:
    rows = []
    for r in audit["rows"]:
        rate = f"{r['speedup']:g}x" if r["speedup"] else (f"{r['sparsity']:g}% sparse" if r["sparsity"] is not None else "")
        cells = (_num(r["top1"]), rate, _flags_text(r["flags"]), r["source"], r["note"])
        rows.append(tables.Row(r["name"], tuple(_text(x) for x in cells)))
    return tables.Table(f"{audit['table']}-rows", f"{audit['table']}: rows and their flags", "row",
                        ("top1", "rate", "flags", "source", "note"), tuple(rows))


def _point_setups(audit: dict[str, Any]) -> dict[str, str]:
    """Each row's mark: the strictest setup of its comparison with its reference (the best of its
    comparisons when all pairs are drawn); references are marked as such."""
    chain = ("none", "S1", "S2", "S3.1", "S3.2", "S4.1", "S4.2")
    all_pairs = audit["mode"].startswith("all pairs")
    marks: dict[str, str] = {}
    for c in audit["comparisons"]:
        setup = c["strictest"] or "none"
        for name in (c["a"], c["b"]) if all_pairs else (c["b"],):
            if name not in marks or chain.index(setup) > chain.index(marks[name]):
                marks[name] = setup
    if not all_pairs:
        marks.update({c["a"]: "reference" for c in audit["comparisons"]})
    return marks


def plot_accuracy_vs_speedup(audit: dict[str, Any], rows: Sequence[dict[str, Any]], path: Path) -> FigureInfo:
    name = f"{audit['table']}-accuracy-vs-speedup"
    title = f"{audit['table']}: top-1 accuracy against speedup, marked by the setup each comparison meets"
    marks = _point_setups(audit)
    results = [r for r in rows if r.get("top1") is not None]
    use_macs = not any(compression(r) for r in results)  # a table that prints MACs only (paper Table 4)
    points = [(r["name"], r.get("macs") if use_macs else compression(r), r["top1"]) for r in results]
    shown = [p for p in points if p[1] is not None]
    if not shown:
        return FigureInfo(name, title, None, "no row gives both an accuracy and a speedup, sparsity or MACs")
    fig, ax = _figure(7.0, 4.6)
    for setup, (marker, color) in STYLE.items():
        pts = [p for p in shown if marks.get(p[0], "not compared") == setup]
        if pts:
            ax.scatter([p[1] for p in pts], [p[2] for p in pts], marker=marker, color=color, s=60 if marker == "*" else 36,
                       label=f"{LEGEND.get(setup, setup)} ({len(pts)})", zorder=3)
    xs = [p[1] for p in shown]
    if max(xs) / min(xs) > 4:
        ax.set_xscale("log")
    ax.set_xlabel("MACs of the pruned model (no speedup printed)" if use_macs
                  else "speedup (MACs), or 100/(100 - sparsity) where no speedup is given")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", title="strictest setup vs reference", title_fontsize="small")
    hidden = len(points) - len(shown)
    note = f"{hidden} result rows without a compression figure are not shown" if hidden else None
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    return FigureInfo(name, title + (f" ({note})" if note else ""), path)


def _rule_lines() -> list[str]:
    return [f"{r.name} (per row): {r.doc}" for r in ROW_RULES] + [f"{r.name} (per comparison): {r.doc}" for r in PAIR_RULES]


def _absent_lines(summary: dict[str, Any]) -> list[str]:
    return [f"{col}: leaves {', '.join(setups)} unknown" for col, setups in summary["absent"].items()]


def build_blocks(audits: Sequence[dict[str, Any]], meta: dict[str, dict[str, str]], figures: dict[str, FigureInfo]) -> list[doc.Block]:
    blocks: list[doc.Block] = [
        doc.Heading("prunebench literature audit", 1),
        doc.Para("Which comparison setup (Wang et al. 2023, Table 2) each published comparison meets, what is unknown, "
                 "and the calibration flags (rules below). Unknown cells are never guessed: a setup whose columns are "
                 f"missing is 'unknown'. Tolerance for numbers: {audits[0]['tolerance']:g} relative."),
        doc.Heading("Summary"),
        doc.Bullets(tuple(a["summary"]["line"] for a in audits)),
    ]
    for a in audits:
        info = meta.get(a["table"], {})
        blocks += [
            doc.Heading(f"{a['table']}: {info.get('title', 'rows file')}"),
            doc.Para(f"Source: {info.get('source', 'the rows of the file (see each row)')}. Comparisons: {a['mode']}."),
            doc.Para(a["summary"]["line"]),
            doc.TableBlock(comparison_table(a)),
            doc.FigureBlock(figures[a["table"]]),
            doc.Heading("Columns no row gives", 3),
            doc.Bullets(tuple(_absent_lines(a["summary"])), empty="none: every setup column appears in some row"),
            doc.Heading("Rows", 3),
            doc.TableBlock(row_table(a)),
        ]
    blocks += [doc.Heading("Rules"), doc.Bullets(tuple(_rule_lines()))]
    return blocks


COMPARISON_FIELDS = ("table", "a", "b", "dataset", "model", "top1_a", "top1_b", "delta", "rate", "strictest", "holds",
                     "unknown", "differs", "missing", "paper_setup", "flags", "undecided")
ROW_FIELDS = ("table", "name", "top1", "speedup", "sparsity", "flags", "undecided", "source", "note")


def _csv(fields: Sequence[str], records: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    for rec in records:
        out = []
        for f in fields:
            v = rec.get(f)
            if isinstance(v, list):
                v = " ".join(x["rule"] for x in v) if v and isinstance(v[0], dict) else " ".join(map(str, v))
            out.append("" if v is None else repr(v) if isinstance(v, float) else str(v))
        w.writerow(out)
    return buf.getvalue()


def _write_all(out: Path, audits, tables_rows, meta) -> None:
    figures = {a["table"]: plot_accuracy_vs_speedup(a, tables_rows[a["table"]], out / "figures" / f"{a['table']}-accuracy-vs-speedup.png")
               for a in audits}
    blocks = build_blocks(audits, meta, figures)
    files = {
        "report.html": doc.to_html(blocks, "prunebench literature audit"),
        "report.md": doc.to_markdown(blocks),
        "comparisons.csv": _csv(COMPARISON_FIELDS, [{"table": a["table"], **c} for a in audits for c in a["comparisons"]]),
        "rows.csv": _csv(ROW_FIELDS, [{"table": a["table"], **r} for a in audits for r in a["rows"]]),
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")


def write_literature_report(out_dir: str | Path, audits: Sequence[dict[str, Any]],
                            tables_rows: dict[str, Sequence[dict[str, Any]]], meta: dict[str, dict[str, str]]) -> Path:
    """Write report.html, report.md, comparisons.csv, rows.csv and figures/ into ``out_dir`` (replaced
    as a whole; nothing is left half-written). Returns the path of report.html."""
    final = Path(out_dir)
    if final.exists() and not final.is_dir():
        raise DataError(f"--out {final} exists and is not a folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-new-", dir=final.parent))
    tmp.chmod(0o755)
    try:
        _write_all(tmp, audits, tables_rows, meta)
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}-old-", dir=final.parent))
            os.replace(final, old / "x")
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final / "report.html"
