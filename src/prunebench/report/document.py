"""A report as a list of blocks, rendered to Markdown (figures linked) or to one self-contained HTML
page (figures embedded as base64 PNG, inline CSS, nothing fetched from anywhere)."""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Union

from . import tables
from .plots import FigureInfo


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]
    empty: str = "none"  # shown when there are no items
    css: str = ""


@dataclass(frozen=True)
class TableBlock:
    table: tables.Table


@dataclass(frozen=True)
class FigureBlock:
    info: FigureInfo


Block = Union[Heading, Para, Bullets, TableBlock, FigureBlock]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2em}
div.scroll{overflow-x:auto}
table.results{border-collapse:collapse;margin:1em 0;font-size:.9em}
table.results caption{font-weight:bold;text-align:left;padding-bottom:.3em}
table.results th,table.results td{border-top:1px solid #ccc;border-bottom:1px solid #ccc;padding:.3em .6em;
text-align:center;white-space:nowrap}
table.results th[scope=row]{text-align:left}
table.results thead th{border-bottom:2px solid #444}
tr.header td,tr.header th{background:#f3f3f3;font-style:italic}
tr.paper td,tr.paper th{color:#666;font-style:italic}
p.footnote{font-size:.85em;color:#555}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444}
.skip{color:#8a6d3b}ul.problems li{color:#a94442}
"""


def to_markdown(blocks: list[Block], figure_dir: str = "figures") -> str:
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + tables.md_text(b.text, inline=True) + "\n")
        elif isinstance(b, Para):
            out.append(tables.md_text(b.text) + "\n")
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {tables.md_text(i, inline=True)}" for i in b.items) + "\n" if b.items
                       else f"_{tables.md_text(b.empty, inline=True)}_\n")
        elif isinstance(b, TableBlock):
            out.append(tables.to_markdown(b.table))
        elif isinstance(b, FigureBlock):
            info = b.info
            title = tables.md_text(info.title, inline=True)
            if info.path is None:
                out.append(f"_{title}: skipped ({tables.md_text(info.note or '', inline=True)})._\n")
            else:
                out.append(f"![{title}]({figure_dir}/{info.path.name})\n")
    return "\n".join(out)


def _figure_html(info: FigureInfo) -> str:
    esc = html.escape
    if info.path is None:
        return f'<p class="skip">{esc(info.title)}: skipped ({esc(info.note or "")}).</p>'
    data = base64.b64encode(info.path.read_bytes()).decode("ascii")
    return (f'<figure id="fig-{esc(info.name)}"><img alt="{esc(info.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(info.title)}</figcaption></figure>")


def _block_html(b: Block) -> str:
    esc = html.escape
    if isinstance(b, Heading):
        return f"<h{b.level}>{esc(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        return f"<p>{esc(b.text)}</p>"
    if isinstance(b, Bullets):
        if not b.items:
            return f"<p><em>{esc(b.empty)}</em></p>"
        cls = f' class="{esc(b.css)}"' if b.css else ""
        return f"<ul{cls}>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, TableBlock):
        return tables.to_html(b.table)
    return _figure_html(b.info)


def to_html(blocks: list[Block], title: str) -> str:
    body = "\n".join(_block_html(b) for b in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
