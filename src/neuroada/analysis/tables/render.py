"""Markdown and LaTeX rendering of any table (no `tabulate` needed; LaTeX through `DataFrame.to_latex`)."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from ...io_utils import atomic_write_text

MISSING = "–"


def _num(v, fmt: str, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING
    s = format(v, fmt)
    if s.lstrip("-").strip("0.") == "":  # rounds to zero: no sign, no "-0.0"
        return s.lstrip("-")
    return format(v, "+" + fmt) if signed else s


_NUMBERISH = re.compile(r"^\s*([+\-]?\d[\d,]*(\.\d+)?|–|--)(\s.*)?$")


def _alignment(df: pd.DataFrame) -> str:
    """`l` for text columns, `r` for columns whose every cell starts with a number (or is missing)."""
    out = []
    for c in df.columns:
        vals = df[c].tolist()
        numeric = all(v is None or isinstance(v, (int, float)) or bool(_NUMBERISH.match(str(v))) for v in vals) and len(vals) > 0
        out.append("r" if numeric else "l")
    return "".join(out)


def render_markdown(df: pd.DataFrame, align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table of `df` (strings as they are; numbers with `str`); `|` escaped."""
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return MISSING
        return str(v).replace("|", "\\|").replace("\n", " ")

    header = [cell(c) for c in df.columns]
    align = align or _alignment(df)
    sep = [":---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--", "±": r"$\pm$", "Δ": r"$\Delta$",
                  "−": "$-$", "†": r"$^\dagger$"}


def latex_escape(s) -> str:
    s = str(s)
    if r"$\pm$" in s:  # already LaTeX
        head, _, tail = s.partition(r"$\pm$")
        return latex_escape(head) + r"$\pm$" + latex_escape(tail)
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)


def render_latex(df: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs LaTeX table (`DataFrame.to_latex`, which needs jinja2); cells and headers escaped here."""
    esc = df.copy()
    esc.columns = [latex_escape(c) for c in df.columns]
    for c in esc.columns:
        esc[c] = [MISSING.replace("–", "--") if (v is None or (isinstance(v, float) and math.isnan(v))) else latex_escape(v) for v in esc[c]]
    return esc.to_latex(index=False, escape=False, column_format=_alignment(df), caption=None if caption is None else latex_escape(caption),
                        label=label, position="t")


def table_markdown(df: pd.DataFrame, caption: str, note: str = "") -> str:
    """A table's Markdown page: the caption in bold, the table (or "(no rows)"), the note."""
    body = render_markdown(df) if len(df) else render_markdown(df) + "\n(no rows)\n"
    return f"**{caption}**\n\n{body}" + (f"\n{note}\n" if note else "")


def _write(out_dir: Path, name: str, df: pd.DataFrame, caption: str, note: str = "") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f"{name}.md"
    tex = out_dir / f"{name}.tex"
    atomic_write_text(md, table_markdown(df, caption, note))
    atomic_write_text(tex, render_latex(df, caption=caption + (f" {note}" if note else ""), label=f"tab:{name}"))
    return [md, tex]
