"""Inline SVG charts for the HTML report: no script, no CDN, the report opens anywhere offline.

* ``bars``: grouped bars (a metric by template version, one group per template)
* ``heatmap``: a confusion matrix (rows expected, columns predicted; the cell's shade is its share of
  the row, the diagonal green, errors red)
* ``latency``: a box plot per skill (min, quartiles, median, p90 whisker) on a shared millisecond axis

Every text is escaped here; the template marks the returned markup safe.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from html import escape

FONT = 'font-family="system-ui,sans-serif" font-size="11"'
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1")


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def bars(groups: Mapping[str, Mapping[str, float]], title: str, y_max: float = 1.0) -> str:
    """``{group: {series: value}}`` as grouped vertical bars, value labels on top."""
    if not groups:
        return ""
    left, top, plot_h, bar_w, gap = 40, 40, 160, 34, 70
    n_bars = sum(len(s) for s in groups.values())
    width = max(left + n_bars * bar_w + len(groups) * gap + 20, 380)
    height = top + plot_h + 48
    body = [f'<text x="{left}" y="14" {FONT} font-weight="bold">{escape(title)}</text>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h - tick / y_max * plot_h
        body.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        body.append(f'<text x="{left - 4}" y="{y + 4:.1f}" {FONT} text-anchor="end">{tick * y_max:g}</text>')
    x = left + gap / 2
    for group, series in groups.items():
        start = x
        for i, (name, value) in enumerate(series.items()):
            h = max(0.0, min(value, y_max)) / y_max * plot_h
            y = top + plot_h - h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 3}" height="{h:.1f}" '
                f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(group)} {escape(name)}: {value:.3f}</title></rect>'
            )
            body.append(
                f'<text x="{x + (bar_w - 3) / 2:.1f}" y="{y - 3:.1f}" {FONT} font-size="9" '
                f'text-anchor="middle">{value:.2f}</text>'
            )
            body.append(
                f'<text x="{x + (bar_w - 3) / 2:.1f}" y="{top + plot_h + 12}" {FONT} font-size="9" '
                f'text-anchor="middle">{escape(name)}</text>'
            )
            x += bar_w
        body.append(
            f'<text x="{(start + x) / 2:.1f}" y="{top + plot_h + 28}" {FONT} text-anchor="middle" '
            f'font-weight="bold">{escape(group)}</text>'
        )
        x += gap
    return _svg(int(width), height, body, title)


def heatmap(confusion: Mapping[str, Mapping[str, int]], title: str) -> str:
    labels = list(confusion)
    if not labels:
        return ""
    cell, left, top = 34, 130, 110
    size = cell * len(labels)
    body = [
        f'<text x="4" y="14" {FONT} font-weight="bold">{escape(title)}</text>',
        f'<text x="{left + size / 2}" y="{top + size + 18}" {FONT} text-anchor="middle">predicted → '
        f"(green: right, red: routed elsewhere; shade: share of the row)</text>",
    ]
    for j, label in enumerate(labels):
        x = left + j * cell + cell / 2
        body.append(f'<text transform="translate({x + 4:.1f},{top - 6}) rotate(-55)" {FONT}>{escape(label)}</text>')
    for i, row in enumerate(labels):
        total = sum(confusion[row].values()) or 1
        y = top + i * cell
        body.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4:.1f}" {FONT} text-anchor="end">{escape(row)}</text>')
        for j, col in enumerate(labels):
            n = int(confusion[row].get(col, 0))
            share = n / total
            if n == 0:
                fill = "#f7f7f7"
            elif i == j:
                fill = f"rgba(46,125,50,{0.15 + 0.85 * share:.2f})"
            else:
                fill = f"rgba(198,40,40,{0.2 + 0.8 * share:.2f})"
            body.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{fill}">'
                f"<title>{escape(row)} → {escape(col)}: {n}</title></rect>"
            )
            if n:
                color = "#fff" if share > 0.5 else "#222"
                body.append(
                    f'<text x="{left + j * cell + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" {FONT} '
                    f'text-anchor="middle" fill="{color}">{n}</text>'
                )
    return _svg(max(left + size + 20, 480), top + size + 30, body, title)


def _quantile(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def latency(samples: Mapping[str, Sequence[float]], title: str) -> str:
    """A horizontal box plot per skill: box = quartiles, line = median, whiskers = min and p90, dots beyond."""
    rows = {k: list(v) for k, v in samples.items() if v}
    if not rows:
        return ""
    left, top, row_h, plot_w = 140, 30, 26, 560
    hi = max(_quantile(v, 0.99) for v in rows.values()) or 1.0
    height = top + row_h * len(rows) + 40

    def sx(v: float) -> float:
        return left + min(v, hi) / hi * plot_w

    body = [f'<text x="4" y="14" {FONT} font-weight="bold">{escape(title)}</text>']
    for k in range(6):
        v = hi * k / 5
        body.append(f'<line x1="{sx(v):.1f}" x2="{sx(v):.1f}" y1="{top - 4}" y2="{height - 30}" stroke="#eee"/>')
        body.append(f'<text x="{sx(v):.1f}" y="{height - 16}" {FONT} text-anchor="middle">{v:.0f} ms</text>')
    for i, (name, values) in enumerate(sorted(rows.items())):
        y = top + i * row_h + row_h / 2
        q1, med, q3 = _quantile(values, 0.25), statistics.median(values), _quantile(values, 0.75)
        lo, p90 = min(values), _quantile(values, 0.9)
        color = PALETTE[i % len(PALETTE)]
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" {FONT} text-anchor="end">{escape(name)} (n={len(values)})</text>'
        )
        body.append(f'<line x1="{sx(lo):.1f}" x2="{sx(p90):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#555"/>')
        body.append(
            f'<rect x="{sx(q1):.1f}" y="{y - 8:.1f}" width="{max(1.0, sx(q3) - sx(q1)):.1f}" height="16" '
            f'fill="{color}" fill-opacity="0.6" stroke="#333"><title>{escape(name)}: median {med:.0f} ms, '
            f"p90 {p90:.0f} ms</title></rect>"
        )
        body.append(
            f'<line x1="{sx(med):.1f}" x2="{sx(med):.1f}" y1="{y - 8:.1f}" y2="{y + 8:.1f}" '
            'stroke="#000" stroke-width="2"/>'
        )
        for v in values:
            if v > p90:
                body.append(f'<circle cx="{sx(v):.1f}" cy="{y:.1f}" r="2" fill="#333"/>')
    return _svg(left + plot_w + 30, height, body, title)
