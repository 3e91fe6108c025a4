"""Server-side SVG charts for reports: plain strings, no JavaScript, safe to inline in HTML."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD = 640, 220, 40
PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2"]


def _frame(title: str, body: str, height: int = HEIGHT) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">'
            f"<title>{escape(title)}</title>"
            f'<text x="{PAD}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>{body}</svg>')


def _empty(title: str) -> str:
    return _frame(title, f'<text x="{PAD}" y="{HEIGHT // 2}" fill="#666">no data in this period</text>')


def line_chart(title: str, labels: list[str], series: dict[str, list[float]]) -> str:
    """One line per series over shared x labels (e.g. hours), y from 0 to the maximum."""
    if not labels or not any(any(v) for v in series.values()):
        return _empty(title)
    top = max(max(v) for v in series.values()) or 1
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD - 10
    step = plot_w / max(1, len(labels) - 1)
    parts = [f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>',
             f'<text x="{PAD - 4}" y="{PAD + 14}" text-anchor="end">{top:g}</text>',
             f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end">0</text>']
    for i, (name, values) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{PAD + j * step:.1f},{HEIGHT - PAD - (v / top) * plot_h:.1f}" for j, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
                     f"<title>{escape(name)}</title></polyline>")
        parts.append(f'<text x="{WIDTH - PAD - 110 + 0}" y="{30 + 14 * i}" fill="{colour}">{escape(name)} '
                     f"({sum(values):g})</text>")
    for j in (0, len(labels) - 1):
        parts.append(f'<text x="{PAD + j * step:.1f}" y="{HEIGHT - PAD + 14}" '
                     f'text-anchor="{"start" if j == 0 else "end"}">{escape(labels[j])}</text>')
    return _frame(title, "".join(parts))


def bar_chart(title: str, items: list[tuple[str, float]], *, fmt: str = "{:g}", max_value: float | None = None,
              signed: bool = False) -> str:
    """Horizontal bars, one per item (label, value); ``signed`` draws negatives to the left of a centre line."""
    if not items:
        return _empty(title)
    items = items[:15]
    height = 30 + 22 * len(items) + 10
    label_w = 200
    plot_w = WIDTH - label_w - PAD - 60
    top = max_value or max(abs(v) for _, v in items) or 1
    origin = label_w + (plot_w / 2 if signed else 0)
    scale = (plot_w / 2 if signed else plot_w) / top
    parts = []
    for i, (label, value) in enumerate(items):
        y = 28 + 22 * i
        w = abs(value) * scale
        x = origin - w if value < 0 else origin
        colour = PALETTE[2] if value < 0 else PALETTE[0]
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(label[:34])}</text>'
                     f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="16" fill="{colour}">'
                     f"<title>{escape(label)}: {escape(fmt.format(value))}</title></rect>"
                     f'<text x="{origin + (w if value >= 0 else 0) + 4:.1f}" y="{y + 13}">{escape(fmt.format(value))}</text>')
    if signed:
        parts.append(f'<line x1="{origin}" y1="24" x2="{origin}" y2="{height - 8}" stroke="#999"/>')
    return _frame(title, "".join(parts), height=height)
