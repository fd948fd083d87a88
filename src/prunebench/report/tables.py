"""One table model, four renderings (Markdown, HTML, LaTeX booktabs, CSV).

Builders turn an :class:`~.aggregate.Aggregate` into a :class:`Table`; renderers only lay the model
out, so the four formats cannot disagree on a number.
"""
from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field, replace

from .aggregate import Aggregate, GroupStats, Stat, paper_numbers

MARK = "†"


@dataclass(frozen=True)
class Cell:
    """One table cell: a number with optional std and n (in display units), or plain text."""

    mean: float | None = None
    std: float | None = None
    n: int | None = None
    text: str | None = None
    digits: int = 2
    bold: bool = False
    mark: bool = False  # significantly different from the reference arm
    show_std: bool = True  # False for single published numbers, which carry no std
    note: str = ""  # short plain-text suffix, e.g. "1 diverged"


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple[Cell, ...]
    kind: str = "ours"  # "ours" | "paper" | "header" | "stage" (base / after-pruning accuracy)


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    corner: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    footnotes: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------- cell text, parametrised per format
@dataclass(frozen=True)
class _Style:
    pm: str
    mark: str
    bold_open: str
    bold_close: str
    escape: object  # callable str -> str
    na: str


def _identity(s: str) -> str:
    return s


def _latex_escape(s: str) -> str:
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
             "±": r"$\pm$", "†": r"$^\dagger$", "×": r"$\times$", "–": "--"}
    return "".join(table.get(ch, ch) for ch in s)


def _md_escape(s: str) -> str:
    """Text for one Markdown table cell: raw HTML escaped (as the HTML report does), ``|`` escaped,
    line breaks made spaces (a newline would end the table row)."""
    return md_text(s, inline=True).replace("|", r"\|")


def md_text(s: str, *, inline: bool = False) -> str:
    """Text for Markdown: ``<`` as ``&lt;``, so raw HTML in a description or an arm name is shown, not
    rendered (no tag can start without it; ``>=`` stays readable), ``$`` as ``\\$``; ``inline``: line breaks (and other
    control characters) as spaces."""
    out = str(s).replace("<", "&lt;").replace("$", "\\$")  # "$" would start math where Markdown renders it
    if inline:
        out = "".join(" " if c in "\r\n\t\v\f" or ord(c) < 32 else c for c in out)
    return out


_PLAIN = _Style("±", MARK, "", "", _identity, "–")
_MD = _Style("±", MARK, "**", "**", _md_escape, "–")
_HTML = _Style("±", MARK, "<strong>", "</strong>", html.escape, "–")
_TEX = _Style(r"$\pm$", r"$^\dagger$", r"\textbf{", "}", _latex_escape, "--")


def cell_text(cell: Cell, style: _Style = _PLAIN) -> str:
    esc = style.escape
    if cell.mean is None:
        body = esc(cell.text) if cell.text is not None else style.na
        return body + (esc(f" ({cell.note})") if cell.note else "")
    body = f"{cell.mean:.{cell.digits}f}"
    if cell.show_std:
        body += f" {style.pm} " + (f"{cell.std:.{cell.digits}f}" if cell.std is not None else esc("n/a"))
    if cell.bold:
        body = f"{style.bold_open}{body}{style.bold_close}"
    if cell.mark:
        body += style.mark
    extras = [f"n={cell.n}"] if cell.n is not None else []
    if cell.note:
        extras.append(cell.note)
    return body + (esc(f" ({', '.join(extras)})") if extras else "")


# ---------------------------------------------------------------- renderers
def to_markdown(table: Table) -> str:
    head = [table.corner, *table.columns]
    lines = ["| " + " | ".join(_md_escape(h) for h in head) + " |",
             "|" + "|".join([":---"] + [":---:"] * len(table.columns)) + "|"]
    for row in table.rows:
        label = f"*{_md_escape(row.label)}*" if row.kind != "ours" else _md_escape(row.label)
        lines.append("| " + " | ".join([label] + [cell_text(c, _MD) for c in row.cells]) + " |")
    out = f"**{_md_escape(table.title)}**\n\n" + "\n".join(lines) + "\n"
    if table.footnotes:
        out += "\n" + "\n".join(f"{_md_escape(f)}  " for f in table.footnotes) + "\n"
    return out


def to_html(table: Table) -> str:
    esc = html.escape
    parts = ['<div class="scroll">', f'<table class="results" id="table-{esc(table.key)}">', f"<caption>{esc(table.title)}</caption>",
             "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in (table.corner, *table.columns)) + "</tr></thead>",
             "<tbody>"]
    for row in table.rows:
        cells = "".join(f"<td>{cell_text(c, _HTML)}</td>" for c in row.cells)
        parts.append(f'<tr class="{esc(row.kind)}"><th scope="row">{esc(row.label)}</th>{cells}</tr>')
    parts.append("</tbody></table></div>")
    if table.footnotes:
        parts.append('<p class="footnote">' + "<br>".join(esc(f) for f in table.footnotes) + "</p>")
    return "\n".join(parts) + "\n"


def to_latex(table: Table) -> str:
    esc = _latex_escape
    lines = [r"\begin{table}[ht]", r"\centering", rf"\caption{{{esc(table.title)}}}",
             rf"\label{{tab:{table.key}}}", r"\small",
             r"\begin{tabular}{l" + "c" * len(table.columns) + "}", r"\toprule",
             " & ".join(esc(h) for h in (table.corner, *table.columns)) + r" \\", r"\midrule"]
    for row in table.rows:
        label = rf"\emph{{{esc(row.label)}}}" if row.kind != "ours" else esc(row.label)
        lines.append(" & ".join([label] + [cell_text(c, _TEX) for c in row.cells]) + r" \\")
        if row.kind == "header":
            lines.append(r"\midrule")
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    for note in table.footnotes:
        lines.append(r"\par\footnotesize " + esc(note))
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("table", "row", "row_kind", "column", "text", "mean", "std", "n", "bold", "significant")


def to_csv(tables: list[Table]) -> str:
    """Long form: one line per cell, numbers in display units (percent for accuracies)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for table in tables:
        for row in table.rows:
            for col, cell in zip(table.columns, row.cells):
                writer.writerow([table.key, row.label, row.kind, col, cell_text(cell),
                                 _num(cell.mean), _num(cell.std), "" if cell.n is None else cell.n,
                                 str(cell.bold).lower(), str(cell.mark).lower()])
    return buf.getvalue()


def _num(x: float | None) -> str:
    return "" if x is None else repr(float(x))


# ---------------------------------------------------------------- builders
def ratio_label(ratio: float) -> str:
    return f"ratio {ratio:g}"


def _pct(stat: Stat) -> tuple[float | None, float | None]:
    scale = lambda v: None if v is None else v * 100.0  # noqa: E731
    return scale(stat.mean), scale(stat.std)


def _acc_cell(g: GroupStats | None) -> Cell:
    if g is None:
        return Cell(text="–")
    notes = [f"{k} {label}" for k, label in ((g.n_diverged, "diverged"), (g.n_failed, "failed"),
                                              (g.n_unfinished, "unfinished")) if k]
    stat = g.stat("test_acc")
    if stat.n == 0:
        return Cell(text="no finished run", note=", ".join(notes))
    mean, std = _pct(stat)
    return Cell(mean=mean, std=std, n=stat.n, mark=bool(g.comparison and g.comparison.significant), note=", ".join(notes))


def _span(values: list[float], fmt: str) -> str:
    if not values:
        return "–"
    lo, hi = min(values), max(values)
    return fmt.format(lo) if abs(hi - lo) < 1e-9 else fmt.format(lo) + "–" + fmt.format(hi)


def _header_row(agg: Aggregate) -> Row:
    cells = []
    for ratio in agg.ratios:
        gs = [agg.get(a, ratio) for a in agg.arms]
        sp = [g.stat("sparsity").mean * 100 for g in gs if g and g.stat("sparsity").mean is not None]
        su = [g.stat("speedup").mean for g in gs if g and g.stat("speedup").mean is not None]
        cells.append(Cell(text=f"{_span(sp, '{:.1f}')}% / {_span(su, '{:.2f}')}×"))
    return Row("sparsity / speedup (MACs)", tuple(cells), kind="header")


def _bold_best(rows: list[list[Cell]]) -> list[list[Cell]]:
    ncol = len(rows[0]) if rows else 0
    for j in range(ncol):
        means = [r[j].mean for r in rows if r[j].mean is not None]
        if not means:
            continue
        best = max(means)
        for r in rows:
            if r[j].mean is not None and r[j].mean == best:
                r[j] = replace(r[j], bold=True)
    return rows


def _paper_rows(agg: Aggregate, paper: dict | None) -> list[tuple[int, Row]]:
    """(index of our arm, row) for each arm with published numbers; an arm absent from our rows is
    appended at the end (index = len(arms))."""
    out = []
    for arm in paper or {}:
        vals = paper_numbers(paper, arm)
        cells = tuple(Cell(mean=vals[r], show_std=False) if r in vals else Cell(text="–") for r in agg.ratios)
        idx = agg.arms.index(arm) if arm in agg.arms else len(agg.arms)
        out.append((idx, Row(f"paper: {arm}", cells, kind="paper")))
    return out


def _against(agg: Aggregate) -> str:
    if not agg.references:
        return f"the reference arm '{agg.reference}'"
    leads = sorted({v for v in agg.references.values()}, key=lambda a: agg.arms.index(a) if a in agg.arms else 0)
    return "the reference of its group (" + ", ".join(f"'{a}'" for a in leads) + ")"


def test_footnotes(agg: Aggregate) -> list[str]:
    """Which test decided the mark, and why (paired where arms share a base per seed, else Welch)."""
    used = agg.tests_used()
    notes = []
    if "paired" in used:
        notes.append(f"{MARK} significantly different from {_against(agg)} at the same ratio, paired by "
                     "seed (the two arms pruned the same base model at every seed): paired t-test over the "
                     "per-seed differences, p < 0.05. The exact sign-flip permutation p (details table) "
                     "needs no normality but cannot fall below 2/2^n with n seeds (0.25 with 3), so with "
                     "few seeds a mark rests on the t-test's normality assumption.")
    if "welch" in used or not used:
        notes.append(f"{MARK} significantly different from {_against(agg)} at the same ratio "
                     "(Welch's unpaired t-test, p < 0.05: used where the two arms did not prune the same "
                     "base model at every seed).")
    notes.append("Bold: best mean in the column.")
    return notes


def _pct_cell(stat: Stat) -> Cell:
    if stat.mean is None:
        return Cell(text="–")
    mean, std = _pct(stat)
    return Cell(mean=mean, std=std, n=stat.n)


def _base_row(agg: Aggregate) -> Row | None:
    """The dense base models' test accuracy per ratio (those of the reference arm, else of any arm)."""
    cells = []
    for ratio in agg.ratios:
        gs = [agg.get(agg.reference, ratio)] + [agg.get(a, ratio) for a in agg.arms]
        stat = next((g.stat("base_acc") for g in gs if g and g.stat("base_acc").n), Stat(None, None, 0))
        cells.append(_pct_cell(stat))
    if all(c.mean is None for c in cells):
        return None
    return Row("dense base model", tuple(cells), kind="stage")


def _stage_row(agg: Aggregate, arm: str) -> Row | None:
    cells = [_pct_cell(g.stat("pruned_acc")) if (g := agg.get(arm, r)) else Cell(text="–") for r in agg.ratios]
    if all(c.mean is None for c in cells):
        return None
    return Row(f"{arm}: right after pruning", tuple(cells), kind="stage")


def accuracy_table(agg: Aggregate, paper: dict | None = None) -> Table:
    """The paper-shaped table: rows = arms, columns = pruning ratios, final test accuracy in percent."""
    ours = _bold_best([[_acc_cell(agg.get(arm, r)) for r in agg.ratios] for arm in agg.arms])
    rows: list[Row] = [_header_row(agg)]
    base = _base_row(agg)
    rows += [base] if base is not None else []
    extra = _paper_rows(agg, paper)
    for i, arm in enumerate(agg.arms):
        is_ref = arm == agg.reference if not agg.references else agg.reference_of(arm) == arm
        label = f"{arm} (reference)" if is_ref else arm
        rows.append(Row(label, tuple(ours[i])))
        pruned = _stage_row(agg, arm)
        rows += [pruned] if pruned is not None else []
        rows.extend(row for idx, row in extra if idx == i)
    rows.extend(row for idx, row in extra if idx >= len(agg.arms))
    notes = [
        "Final-epoch test accuracy (%) of finished runs: mean ± sample std (ddof=1) over seeds, n = runs; "
        "n/a = a single run has no std.",
        *test_footnotes(agg),
    ]
    if base is not None:
        notes.append("dense base model: test accuracy (%) of the base models the reference arm pruned, before "
                     "pruning; right after pruning: each arm's pruned model before retraining (arms that keep the pruned "
                     "weights only; re-initialised and scratch arms start from other weights).")
    if extra:
        notes.append("paper: published numbers (mean only), shown for calibration, not tested.")
    return Table("accuracy", "Test accuracy (%) by arm and pruning ratio", "arm",
                 tuple(ratio_label(r) for r in agg.ratios), tuple(rows), tuple(notes))


def _stat_cell(stat: Stat, scale: float = 1.0, digits: int = 2) -> Cell:
    if stat.mean is None:
        return Cell(text="–")
    std = None if stat.std is None else stat.std * scale
    return Cell(mean=stat.mean * scale, std=std, n=None, digits=digits)


def _count_cell(stat: Stat) -> Cell:
    if stat.mean is None:
        return Cell(text="–")
    return Cell(mean=stat.mean, digits=0, show_std=False)


DETAIL_COLUMNS = ("n done", "base acc (%)", "after prune (%)", "test acc (%)", "TA train (%)", "TA test (%)", "JSV start", "JSV end",
                  "params", "MACs", "sparsity (%)", "speedup (×)", "epochs", "diverged", "failed",
                  "vs reference")


def _detail_row(agg: Aggregate, g: GroupStats) -> Row:
    s = g.stat
    welch = "reference" if g.comparison is None else f"vs {g.reference}: {g.comparison.describe()}"
    cells = (
        Cell(text=str(g.n_done)), _stat_cell(s("base_acc"), 100), _stat_cell(s("pruned_acc"), 100),
        _stat_cell(s("test_acc"), 100), _stat_cell(s("ta_train"), 100),
        _stat_cell(s("ta_test"), 100), _stat_cell(s("jsv_mean_start"), digits=4),
        _stat_cell(s("jsv_mean_end"), digits=4), _count_cell(s("params")), _count_cell(s("macs")),
        _stat_cell(s("sparsity"), 100, 1), _stat_cell(s("speedup")), _count_cell(s("epochs")),
        Cell(text=str(g.n_diverged)), Cell(text=str(g.n_failed)), Cell(text=welch),
    )
    return Row(f"{g.arm} @ {g.ratio:g}", cells)


def detail_table(agg: Aggregate) -> Table:
    """Every aggregated metric, one row per (arm, ratio)."""
    rows = tuple(_detail_row(agg, g) for r in agg.ratios for a in agg.arms if (g := agg.get(a, r)))
    notes = ("Means ± sample std over finished runs. TA: mean accuracy over the first LR stage (train and "
             "test versions). JSV: mean Jacobian singular value at the start and end of retraining. "
             "MACs are multiply-accumulates (not FLOPs).",
             "vs reference: mean difference of test accuracy (arm minus reference, percentage points) with "
             "its 95% confidence interval, then the test: paired over seeds where both arms pruned the "
             "same base model (paired t-test and exact sign-flip permutation p), else Welch's t-test.")
    return Table("details", "All metrics per arm and pruning ratio", "arm @ ratio", DETAIL_COLUMNS, rows, notes)
