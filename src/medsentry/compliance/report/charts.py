"""Small inline SVG charts: no script, no external file, so the HTML and the PDF are
self-contained and render the same in a browser and in WeasyPrint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

STATUS_COLOURS = {
    "pass": "#2e7d32",
    "partial": "#f9a825",
    "fail": "#c62828",
    "not_assessed": "#9e9e9e",
    "not_applicable": "#cfd8dc",
}
STATUS_LABELS = {
    "pass": "Pass",
    "partial": "Partial",
    "fail": "Fail",
    "not_assessed": "Not assessed",
    "not_applicable": "Not applicable",
}


def _short(name: str, limit: int = 40) -> str:
    """A label that fits: cut at a dash or a word boundary."""
    head = name.split(" - ")[0] if len(name) > limit else name
    return head if len(head) <= limit else head[: limit - 1].rsplit(" ", 1)[0] + "…"


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def donut(counts: dict[str, int], *, size: int = 180, label: str = "") -> str:
    """A ring split by status, with ``label`` (e.g. the score) in the middle."""
    total = sum(counts.values())
    r, stroke = size / 2 - 14, 24
    cx = cy = size / 2
    circumference = 2 * math.pi * r
    parts = []
    offset = 0.0
    for status, colour in STATUS_COLOURS.items():
        n = counts.get(status, 0)
        if not n or not total:
            continue
        length = circumference * n / total
        parts.append(
            f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{_fmt(r)}" fill="none" '
            f'stroke="{colour}" stroke-width="{stroke}" '
            f'stroke-dasharray="{_fmt(length)} {_fmt(circumference - length)}" '
            f'stroke-dashoffset="{_fmt(-offset)}" transform="rotate(-90 {_fmt(cx)} {_fmt(cy)})">'
            f"<title>{escape(STATUS_LABELS[status])}: {n}</title></circle>"
        )
        offset += length
    if not parts:
        parts.append(
            f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{_fmt(r)}" fill="none" '
            f'stroke="#eeeeee" stroke-width="{stroke}"/>'
        )
    text = (
        f'<text x="{_fmt(cx)}" y="{_fmt(cy + 8)}" text-anchor="middle" font-size="22" '
        f'font-weight="bold" fill="#263238">{escape(label)}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img" aria-label="status distribution">'
        + "".join(parts)
        + text
        + "</svg>"
    )


def stacked_bars(
    rows: Sequence[tuple[str, dict[str, int]]], *, width: int = 560, bar: int = 18
) -> str:
    """One horizontal bar per row (e.g. per catalogue), split by status."""
    label_w, gap, count_w = 250, 10, 40
    plot_w = width - label_w - count_w
    height = len(rows) * (bar + gap) + gap
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="status per catalogue">'
    ]
    for i, (name, counts) in enumerate(rows):
        y = gap + i * (bar + gap)
        total = sum(counts.values()) or 1
        out.append(
            f'<text x="0" y="{y + bar - 5}" font-size="11" fill="#263238">'
            f"{escape(_short(name))}</text>"
        )
        x = float(label_w)
        for status, colour in STATUS_COLOURS.items():
            n = counts.get(status, 0)
            if not n:
                continue
            w = plot_w * n / total
            out.append(
                f'<rect x="{_fmt(x)}" y="{y}" width="{_fmt(w)}" height="{bar}" fill="{colour}">'
                f"<title>{escape(STATUS_LABELS[status])}: {n}</title></rect>"
            )
            x += w
        out.append(
            f'<text x="{width - count_w + 6}" y="{y + bar - 5}" font-size="11" fill="#546e7a">'
            f"{sum(counts.values())}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def bars(values: Sequence[tuple[str, float]], *, width: int = 560, colour: str = "#1565c0") -> str:
    """Simple labelled horizontal bars (counts, percentages)."""
    label_w, bar, gap = 210, 16, 8
    plot_w = width - label_w - 50
    height = len(values) * (bar + gap) + gap
    top = max((v for _, v in values), default=0) or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
    ]
    for i, (name, value) in enumerate(values):
        y = gap + i * (bar + gap)
        w = plot_w * value / top
        out.append(
            f'<text x="0" y="{y + bar - 4}" font-size="11" fill="#263238">'
            f"{escape(_short(name))}</text>"
            f'<rect x="{label_w}" y="{y}" width="{_fmt(w)}" height="{bar}" fill="{colour}"/>'
            f'<text x="{_fmt(label_w + w + 6)}" y="{y + bar - 4}" font-size="11" '
            f'fill="#546e7a">{_fmt(value)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def legend() -> str:
    items = "".join(
        f'<span class="legend-item"><span class="swatch" style="background:{colour}"></span>'
        f"{escape(STATUS_LABELS[s])}</span>"
        for s, colour in STATUS_COLOURS.items()
    )
    return f'<div class="legend">{items}</div>'
