"""The body map: front and back outlines of a child, and marks drawn on them as SVG.

Marks are stored as data (side, x, y as fractions 0–1 of the outline's box, type, colour, shape,
size, description); the drawing is made from that data whenever it is needed, so it scales to any
page and can be printed or redrawn in another style without touching the record.

The outline's box is twice as tall as it is wide (BOX_WIDTH × BOX_HEIGHT when drawn). Both sides
use one silhouette; the labels under each figure say which is the child's left and right.
"""
from __future__ import annotations

from html import escape

# The outlines are part of the incidents contract: a mark the service accepts lies inside one.
from services.common.contracts.bodymap import (BACK, BOX_HEIGHT, BOX_WIDTH, FRONT, OUTLINES,  # noqa: E402,F401
                                               SIDES, on_body, point_in_polygon)


def outline() -> dict:
    """What a form needs to draw the outlines and place marks (JSON-ready)."""
    return {"box": {"width": BOX_WIDTH, "height": BOX_HEIGHT},
            "sides": {side: [[x, y] for x, y in OUTLINES[side]] for side in SIDES},
            "labels": {"front": {"left": "Right", "right": "Left"}, "back": {"left": "Left", "right": "Right"}}}


# --- drawing ----------------------------------------------------------------------------------

MARGIN, LABEL_SPACE, GAP, LEGEND_SPACE, LEGEND_ITEM = 20, 34, 40, 30, 76
SYMBOL_R = 7

# How each type of mark is drawn: outline colour, fill and the shape of the symbol.
STYLES = {
    "bruise": ("#5b2a86", "#8e5bb5", "circle"),
    "cut": ("#b00020", "#b00020", "slash"),
    "burn": ("#c75000", "#f28c28", "diamond"),
    "mark": ("#1f4e79", "#5b8fc7", "square"),
    "swelling": ("#2e7d32", "none", "ring"),
    "other": ("#333333", "#333333", "cross"),
}
TYPE_LABELS = {"bruise": "Bruise", "cut": "Cut", "burn": "Burn", "mark": "Mark", "swelling": "Swelling",
               "other": "Other"}


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _symbol(mark_type: str, cx: float, cy: float) -> str:
    stroke, fill, shape = STYLES.get(mark_type, STYLES["other"])
    r = SYMBOL_R
    x, y = _num(cx), _num(cy)
    if shape == "circle":
        return f'<circle cx="{x}" cy="{y}" r="{r}" fill="{fill}" fill-opacity="0.75" stroke="{stroke}" stroke-width="1.5"/>'
    if shape == "ring":
        return (f'<circle cx="{x}" cy="{y}" r="{r}" fill="{fill}" stroke="{stroke}" stroke-width="2.5" '
                f'stroke-dasharray="3 2"/>')
    if shape == "square":
        return (f'<rect x="{_num(cx - r + 1)}" y="{_num(cy - r + 1)}" width="{2 * r - 2}" height="{2 * r - 2}" '
                f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>')
    if shape == "diamond":
        points = " ".join(f"{_num(px)},{_num(py)}" for px, py in
                          ((cx, cy - r - 1), (cx + r + 1, cy), (cx, cy + r + 1), (cx - r - 1, cy)))
        return f'<polygon points="{points}" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
    if shape == "slash":
        return (f'<line x1="{_num(cx - r)}" y1="{_num(cy + r)}" x2="{_num(cx + r)}" y2="{_num(cy - r)}" '
                f'stroke="{stroke}" stroke-width="3" stroke-linecap="round"/>')
    return (f'<path d="M{_num(cx - r)} {_num(cy - r)}L{_num(cx + r)} {_num(cy + r)}'
            f'M{_num(cx - r)} {_num(cy + r)}L{_num(cx + r)} {_num(cy - r)}" '
            f'stroke="{stroke}" stroke-width="2.5" stroke-linecap="round" fill="none"/>')


def _title(number: int, mark: dict) -> str:
    parts = [f"{number}. {TYPE_LABELS.get(mark.get('mark_type'), 'Mark')} on the {mark.get('side')}"]
    for key in ("colour", "shape", "size"):
        if mark.get(key):
            parts.append(f"{key}: {mark[key]}")
    if mark.get("description"):
        parts.append(str(mark["description"]))
    return escape("; ".join(parts), quote=True)


def _figure(side: str, left: float, top: float) -> str:
    points = " ".join(f"{_num(left + x * BOX_WIDTH)},{_num(top + y * BOX_HEIGHT)}" for x, y in OUTLINES[side])
    sides = {"front": ("Right", "Left"), "back": ("Left", "Right")}[side]
    base = top + BOX_HEIGHT + 14
    return (f'<g class="outline outline-{side}">'
            f'<text x="{_num(left + BOX_WIDTH / 2)}" y="{_num(top - 12)}" text-anchor="middle" '
            f'font-size="16" font-weight="bold">{side.capitalize()}</text>'
            f'<polygon points="{points}" fill="#fafafa" stroke="#444444" stroke-width="1.5" '
            f'stroke-linejoin="round"/>'
            f'<text x="{_num(left + 8)}" y="{_num(base)}" font-size="11" fill="#555555">{sides[0]}</text>'
            f'<text x="{_num(left + BOX_WIDTH - 8)}" y="{_num(base)}" text-anchor="end" font-size="11" '
            f'fill="#555555">{sides[1]}</text></g>')


def render_svg(marks: list[dict], side: str | None = None) -> str:
    """Both outlines side by side (or one, with `side`), each mark a numbered symbol.

    Marks are numbered in the order given, whichever side is drawn, so "mark 3" means the same
    mark in every drawing and in the list beside it. Everything typed is escaped; the drawing
    refers to nothing outside itself.
    """
    sides = [side] if side in SIDES else list(SIDES)
    width = MARGIN * 2 + BOX_WIDTH * len(sides) + GAP * (len(sides) - 1)
    top = MARGIN + LABEL_SPACE
    # A key to the symbols used, wrapped to the drawing's width.
    used = [t for t in STYLES if any(m.get("mark_type") == t and m.get("side") in sides for m in marks)]
    per_row = max(1, (width - 2 * MARGIN) // LEGEND_ITEM)
    height = top + BOX_HEIGHT + 20 + LEGEND_SPACE * max(1, -(-len(used) // per_row)) + MARGIN
    lefts = {s: MARGIN + i * (BOX_WIDTH + GAP) for i, s in enumerate(sides)}
    count = sum(1 for m in marks if m.get("side") in lefts)
    title = f"Body map ({', '.join(s.capitalize() for s in sides)}): {count} mark{'s' if count != 1 else ''}"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
           f'font-family="sans-serif" preserveAspectRatio="xMidYMid meet">',
           f"<title>{escape(title)}</title>",
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    out += [_figure(s, lefts[s], top) for s in sides]
    for number, mark in enumerate(marks, start=1):
        if mark.get("side") not in lefts:
            continue
        cx = lefts[mark["side"]] + float(mark["x"]) * BOX_WIDTH
        cy = top + float(mark["y"]) * BOX_HEIGHT
        mark_type = mark.get("mark_type") if mark.get("mark_type") in STYLES else "other"
        out.append(f'<g class="mark mark-{mark_type}" data-number="{number}"><title>{_title(number, mark)}</title>'
                   f"{_symbol(mark_type, cx, cy)}"
                   f'<text x="{_num(cx + SYMBOL_R + 2)}" y="{_num(cy - SYMBOL_R + 2)}" font-size="11" '
                   f'font-weight="bold" fill="#000000">{number}</text></g>')
    for i, mark_type in enumerate(used):
        x = MARGIN + 10 + (i % per_row) * LEGEND_ITEM
        legend_y = top + BOX_HEIGHT + 20 + LEGEND_SPACE / 2 + (i // per_row) * LEGEND_SPACE
        out.append(f'<g class="legend">{_symbol(mark_type, x, legend_y)}'
                   f'<text x="{_num(x + 12)}" y="{_num(legend_y + 4)}" font-size="11">{TYPE_LABELS[mark_type]}</text></g>')
    out.append("</svg>")
    return "".join(out)
