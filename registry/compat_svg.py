"""The compatibility graph as a hand-written SVG: one column per major version, versions top to bottom."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

COL_W, ROW_H, NODE_W, NODE_H = 260, 56, 150, 34
MARGIN, TOP, GUTTER = 24, 96, 100  # the gutter leaves room for arcs left of the first column
MAX_BULGE = 90
COLOURS = {"compatible": "#2e7d32", "breaks": "#c62828"}
NODE_STYLE = {  # (fill, stroke, text)
    "latest": ("#e8f5e9", "#2e7d32", "#1b5e20"),
    "active": ("#e3f2fd", "#1565c0", "#0d47a1"),
    "prerelease": ("#f3e5f5", "#6a1b9a", "#4a148c"),
    "deprecated": ("#eeeeee", "#9e9e9e", "#616161"),
}


def render_graph_svg(graph: dict) -> str:
    """SVG text for ``lifecycle_selectors.compatibility_graph(...)``: every version a box, every edge a path.

    Detected edges run on the right of a column, declared ones (dashed) on the left, so the two can be
    told apart when they join the same versions.
    """
    columns: dict[int, list[dict]] = {}
    for node in graph["nodes"]:
        columns.setdefault(node["major"], []).append(node)
    majors = sorted(columns)
    pos = {}
    for ci, major in enumerate(majors):
        for ri, node in enumerate(columns[major]):
            pos[node["version"]] = (MARGIN + GUTTER + ci * COL_W, TOP + 28 + ri * ROW_H)
    rows = max((len(c) for c in columns.values()), default=0)
    width = max(MARGIN * 2 + GUTTER + max(len(majors), 1) * COL_W, 640)
    height = TOP + 28 + max(rows, 1) * ROW_H + MARGIN

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label={quoteattr("Compatibility graph of " + graph["name"])} '
        'font-family="system-ui, -apple-system, Segoe UI, sans-serif">',
        f"<title>{escape('Compatibility graph of ' + graph['name'])}</title>",
        "<defs>",
        *(f'<marker id="arrow-{rel}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
          f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
          for rel, colour in COLOURS.items()),
        "</defs>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 8}" font-size="16" font-weight="600" fill="#212121">'
        f'{escape(graph["name"])}</text>',
        f'<text x="{MARGIN}" y="{MARGIN + 28}" font-size="12" fill="#616161">'
        f'{escape("compatibility mode: " + str(graph.get("mode", "")))}</text>',
        *_legend(MARGIN, MARGIN + 50),
    ]
    for ci, major in enumerate(majors):
        x = MARGIN + GUTTER + ci * COL_W
        out.append(f'<text x="{x + NODE_W / 2}" y="{TOP + 14}" font-size="12" text-anchor="middle" '
                   f'fill="#424242">{escape(f"major {major}")}</text>')
    for edge in graph["edges"]:
        if edge["from"] in pos and edge["to"] in pos:
            out.append(_edge(edge, pos[edge["from"]], pos[edge["to"]]))
    for node in graph["nodes"]:
        out.append(_node(node, *pos[node["version"]]))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _legend(x: int, y: int) -> list[str]:
    items = [("compatible", "detected compatible", ""), ("breaks", "detected breaks", ""),
             ("compatible", "declared compatible", "6 4"), ("breaks", "declared breaks", "6 4")]
    out = []
    for i, (rel, label, dash) in enumerate(items):
        lx = x + i * 150
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{lx}" y1="{y}" x2="{lx + 28}" y2="{y}" stroke="{COLOURS[rel]}" stroke-width="2"'
                   f'{dash_attr}/>')
        out.append(f'<text x="{lx + 34}" y="{y + 4}" font-size="11" fill="#424242">{escape(label)}</text>')
    return out


def _edge(edge: dict, a: tuple[float, float], b: tuple[float, float]) -> str:
    colour = COLOURS[edge["relation"]]
    declared = edge["source"] == "declared"
    (ax, ay), (bx, by) = a, b
    if ax == bx:
        # Same column: an arc beside the boxes, wider the further apart the versions are.
        side = -1 if declared else 1
        x = ax if declared else ax + NODE_W
        bulge = side * min(24 + abs(by - ay) / ROW_H * 8, MAX_BULGE)
        y1, y2 = ay + NODE_H / 2, by + NODE_H / 2
        d = f"M{x},{y1} C{x + bulge},{y1} {x + bulge},{y2} {x},{y2}"
    else:
        x1, x2 = (ax + NODE_W, bx) if ax < bx else (ax, bx + NODE_W)
        y1, y2 = ay + NODE_H / 2 + (-5 if declared else 5), by + NODE_H / 2 + (-5 if declared else 5)
        mid = (x1 + x2) / 2
        d = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
    dash = ' stroke-dasharray="6 4"' if declared else ""
    label = f"{edge['to']} {edge['relation']} {edge['from']} ({edge['source']}"
    if declared:
        label += f" as {edge.get('range')}; detection {'agrees' if edge.get('agrees') else 'disagrees'}"
    elif edge.get("breaking_changes"):
        label += f"; {edge['breaking_changes']} breaking change(s)"
    label += ")"
    return (f'<path class="edge {escape(edge["source"])} {escape(edge["relation"])}" d="{d}" fill="none" '
            f'stroke="{colour}" stroke-width="1.6"{dash} marker-end="url(#arrow-{edge["relation"]})">'
            f"<title>{escape(label)}</title></path>")


def _node(node: dict, x: float, y: float) -> str:
    fill, stroke, text = NODE_STYLE.get(node["status"], NODE_STYLE["active"])
    dash = ' stroke-dasharray="4 3"' if node["status"] == "deprecated" else ""
    sub = node["status"]
    if node.get("deprecated") and (node.get("deprecation") or {}).get("successor"):
        sub = f"deprecated → {node['deprecation']['successor']}"
    title = f"{node['version']}: {sub}"
    if node.get("deprecated") and node.get("deprecation"):
        title += f" ({node['deprecation'].get('reason', '')})"
    return (f'<g class="node {escape(node["status"])}" data-version={quoteattr(node["version"])}>'
            f"<title>{escape(title)}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="1.5"{dash}/>'
            f'<text x="{x + NODE_W / 2}" y="{y + 15}" font-size="13" font-weight="600" text-anchor="middle" '
            f'fill="{text}">{escape(node["version"])}</text>'
            f'<text x="{x + NODE_W / 2}" y="{y + 28}" font-size="10" text-anchor="middle" fill="{text}">'
            f"{escape(sub)}</text></g>")
