"""Small hand-written SVG charts, rendered on the server.

A chart library would mean shipping and updating a JavaScript bundle for three shapes
(stacked bars over time, horizontal bars, a star graph); drawing them here keeps the
page working without scripts and under a strict Content-Security-Policy (colours come
from CSS classes, never inline styles).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from medsentry.api.queries import Series

PALETTE_SIZE = 8


def _time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body)
        + "</svg>"
    )


def time_bars(
    series: Series,
    label: str,
    width: int = 720,
    height: int = 200,
    classes: Mapping[str, str] | None = None,
) -> Markup:
    """Stacked bars per time bucket, one colour per series name, with a legend.
    ``classes`` gives names a fixed colour class (severities), else the palette's."""
    fixed = classes or {}

    def colour(index: int, name: str) -> str:
        return fixed.get(name, f"s{index % PALETTE_SIZE}")

    if not series.names:
        return Markup('<p class="empty">Nothing recorded yet.</p>')
    buckets = len(next(iter(series.counts.values())))
    totals = [sum(series.counts[n][i] for n in series.names) for i in range(buckets)]
    peak = max(max(totals), 1)
    left, bottom, top = 40, 34, 8
    plot_h = height - bottom - top
    bar_w = (width - left - 8) / buckets
    body = [
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - 8}" '
        f'y2="{top + plot_h}"/>',
        f'<text class="tick" x="{left - 4}" y="{top + 10}" text-anchor="end">{peak}</text>',
        f'<text class="tick" x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>',
        f'<text class="tick" x="{left}" y="{height - 20}">{_time(series.start)}</text>',
        f'<text class="tick" x="{width - 8}" y="{height - 20}" text-anchor="end">'
        f"{_time(series.start + series.width * buckets)}</text>",
    ]
    for i in range(buckets):
        y: float = top + plot_h
        for index, name in enumerate(series.names):
            count = series.counts[name][i]
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            when = _time(series.start + series.width * i)
            body.append(
                f'<rect class="{colour(index, name)}" x="{left + i * bar_w + 1:.1f}" '
                f'y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}">'
                f"<title>{escape(name)}: {count} from {when}</title></rect>"
            )
    x = left
    for index, name in enumerate(series.names[:PALETTE_SIZE]):
        body.append(
            f'<rect class="{colour(index, name)}" x="{x}" y="{height - 12}" '
            'width="10" height="10"/>'
            f'<text class="legend" x="{x + 14}" y="{height - 3}">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return _svg(width, height, label, body)


def hbars(
    items: Sequence[tuple[str, int]],
    label: str,
    width: int = 360,
    empty: str = "No devices yet.",
) -> Markup:
    """Horizontal bars with their labels and counts (devices by type)."""
    if not items:
        return Markup(f'<p class="empty">{escape(empty)}</p>')
    row = 22
    peak = max(n for _, n in items) or 1
    left = 130
    body = []
    for i, (name, count) in enumerate(items):
        y = i * row
        w = (width - left - 50) * count / peak
        body.append(
            f'<text class="legend" x="{left - 6}" y="{y + 15}" text-anchor="end">'
            f"{escape(name[:20])}</text>"
            f'<rect class="s{i % PALETTE_SIZE}" x="{left}" y="{y + 4}" width="{max(w, 1):.1f}" '
            f'height="{row - 8}"><title>{escape(name)}: {count}</title></rect>'
            f'<text class="tick" x="{left + w + 6:.1f}" y="{y + 15}">{count}</text>'
        )
    return _svg(width, row * len(items) + 4, label, body)


@dataclass(frozen=True, slots=True)
class Node:
    label: str
    weight: int
    href: str | None = None


def star_graph(center: str, peers: Sequence[Node], label: str, size: int = 440) -> Markup:
    """The device in the middle, its peers on a circle; line width grows with the bytes
    exchanged (log scale), known devices are links."""
    if not peers:
        return Markup('<p class="empty">No peers recorded.</p>')
    shown = list(peers[:40])
    c = size / 2
    radius = c - 70
    heaviest = max(math.log10(p.weight + 1) for p in shown) or 1.0
    body = []
    nodes = []
    for i, peer in enumerate(shown):
        angle = 2 * math.pi * i / len(shown) - math.pi / 2
        x, y = c + radius * math.cos(angle), c + radius * math.sin(angle)
        stroke = 1 + 5 * math.log10(peer.weight + 1) / heaviest
        body.append(
            f'<line class="edge" x1="{c:.1f}" y1="{c:.1f}" x2="{x:.1f}" y2="{y:.1f}" '
            f'stroke-width="{stroke:.1f}"><title>{escape(peer.label)}: {peer.weight} bytes'
            "</title></line>"
        )
        anchor = "start" if math.cos(angle) > 0.2 else "end" if math.cos(angle) < -0.2 else "middle"
        dx = 8 if anchor == "start" else -8 if anchor == "end" else 0
        # Labels above the top node and below the bottom one, never across the edge.
        dy = 4 if anchor != "middle" else (-10 if math.sin(angle) < 0 else 18)
        node = (
            f'<circle class="node{" known" if peer.href else ""}" cx="{x:.1f}" cy="{y:.1f}" r="6"/>'
            f'<text class="legend" x="{x + dx:.1f}" y="{y + dy:.1f}" text-anchor="{anchor}">'
            f"{escape(peer.label)}</text>"
        )
        if peer.href:
            node = f'<a href="{escape(peer.href)}">{node}</a>'
        nodes.append(node)
    body.extend(nodes)
    body.append(
        f'<circle class="node center" cx="{c}" cy="{c}" r="10"/>'
        f'<text class="legend strong" x="{c}" y="{c + 26}" text-anchor="middle">'
        f"{escape(center)}</text>"
    )
    more = len(peers) - len(shown)
    if more > 0:
        body.append(f'<text class="tick" x="4" y="{size - 4}">+{more} more peers</text>')
    return _svg(size, size, label, body)
