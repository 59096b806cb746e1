"""The body map on the incident form: drawing the outlines, named places for placing a mark without a
pointer, and reading the marks back from the form's fields (body_map-N-side, -x, -y, -mark_type…).

The incidents service owns the outline (`body_map_outline`) and decides whether a mark is on the
body; this only draws it and names places on it.
"""
from __future__ import annotations

import math
import re

OUTLINE_FALLBACK_BOX = {"width": 200, "height": 400}
MARGIN, LABEL_SPACE, GAP, FOOT_SPACE = 20, 34, 40, 30
MAX_MARK_ROWS = 60
DETAIL_LIMIT, DESCRIPTION_LIMIT = 200, 5_000

# Places on the outline (a 100 × 200 grid, the viewer's left half; the right half mirrors it). On the
# front the viewer's left is the child's right; on the back it is the child's left.
_MIDDLE = [("head", "face and head", "back of the head", 50, 12), ("neck", "neck", "back of the neck", 50, 30.5),
           ("chest", "chest", "upper back", 50, 50), ("stomach", "stomach", "lower back", 50, 80),
           ("hips", "hips and groin", "bottom", 50, 104)]
_PAIRED = [("shoulder", "shoulder", "shoulder", 35, 40), ("upper-arm", "upper arm", "upper arm", 23.5, 60),
           ("forearm", "forearm", "forearm", 19, 85), ("hand", "hand", "hand", 14, 110),
           ("thigh", "thigh", "back of the thigh", 39, 130), ("knee", "knee", "back of the knee", 39.5, 150),
           ("lower-leg", "shin", "calf", 40, 170), ("foot", "foot", "foot", 39, 192)]


def _regions() -> list[dict]:
    regions = []
    for side in ("front", "back"):
        for key, front_name, back_name, x, y in _MIDDLE:
            regions.append({"key": f"{side}:{key}", "side": side, "name": front_name if side == "front" else back_name,
                            "x": x / 100, "y": y / 200})
        for key, front_name, back_name, x, y in _PAIRED:
            name = front_name if side == "front" else back_name
            # Front: the viewer's left is the child's right. Back: the viewer's left is the child's left.
            viewer_left, viewer_right = ("right", "left") if side == "front" else ("left", "right")
            for child_side, fx in ((viewer_left, x), (viewer_right, 100 - x)):
                regions.append({"key": f"{side}:{child_side}-{key}", "side": side,
                                "name": f"{child_side} {name}" if not name.startswith("back of") else
                                        name.replace("back of the", f"back of the {child_side}"),
                                "x": round(fx / 100, 4), "y": y / 200})
    return regions


REGIONS = _regions()
REGIONS_BY_KEY = {r["key"]: r for r in REGIONS}


def describe(side: str | None, x: float | None, y: float | None) -> str:
    """"Front, near the right forearm": where a mark is, in words, for everyone who cannot see the drawing."""
    if side not in ("front", "back") or x is None or y is None:
        return "Position not set"
    near = min((r for r in REGIONS if r["side"] == side),
               key=lambda r: math.hypot(r["x"] - x, (r["y"] - y) * 2))
    return f"{side.capitalize()}, near the {near['name']}"


def drawing(outline: dict | None) -> dict:
    """Everything the template needs to draw both outlines side by side (SVG user units)."""
    box = (outline or {}).get("box") or OUTLINE_FALLBACK_BOX
    width, height = float(box.get("width", 200)), float(box.get("height", 400))
    sides = []
    for i, side in enumerate(("front", "back")):
        left = MARGIN + i * (width + GAP)
        polygon = ((outline or {}).get("sides") or {}).get(side) or []
        points = " ".join(f"{left + px * width:.1f},{LABEL_SPACE + MARGIN + py * height:.1f}" for px, py in polygon)
        names = ((outline or {}).get("labels") or {}).get(side) or {}
        sides.append({"side": side, "left": left, "top": LABEL_SPACE + MARGIN, "points": points,
                      "left_label": names.get("left", ""), "right_label": names.get("right", "")})
    return {"width": MARGIN * 2 + width * 2 + GAP, "height": MARGIN * 2 + LABEL_SPACE + height + FOOT_SPACE,
            "box_width": width, "box_height": height, "sides": sides, "available": bool(outline)}


def mark_position(drawn: dict, mark: dict) -> tuple[float, float] | None:
    """Where a mark sits in the form's drawing (for re-showing marks after a failed save)."""
    side = next((s for s in drawn["sides"] if s["side"] == mark.get("side")), None)
    x, y = _number(mark.get("x")), _number(mark.get("y"))
    if side is None or x is None or y is None:
        return None
    return side["left"] + x * drawn["box_width"], side["top"] + y * drawn["box_height"]


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


_MARK_FIELD = re.compile(r"^body_map-(\d{1,3})-side$")


def read_marks(form) -> list[dict]:
    """The marks as typed, in the order they were placed (the form's index order)."""
    indexes = sorted({int(m.group(1)) for key in form.keys() if (m := _MARK_FIELD.match(key))})
    rows = []
    for n in indexes[:MAX_MARK_ROWS]:
        def text(name, limit=DETAIL_LIMIT, n=n):
            value = form.get(f"body_map-{n}-{name}")
            return value[:limit] if isinstance(value, str) else ""
        rows.append({"side": text("side", 10), "x": text("x", 30), "y": text("y", 30),
                     "mark_type": text("mark_type", 20), "colour": text("colour"), "shape": text("shape"),
                     "size": text("size"), "description": text("description", DESCRIPTION_LIMIT)})
    return rows


def for_service(rows: list[dict]) -> list[dict]:
    """The marks as the incidents service takes them; it checks each one and says what to fix."""
    marks = []
    for row in rows:
        mark = {"side": row["side"] or None, "x": _number(row["x"]), "y": _number(row["y"]),
                "mark_type": row["mark_type"] or None}
        for key in ("colour", "shape", "size", "description"):
            mark[key] = row[key].strip() or None
        marks.append(mark)
    return marks


def new_mark(region_key: str) -> dict | None:
    region = REGIONS_BY_KEY.get(region_key)
    if region is None:
        return None
    return {"side": region["side"], "x": str(region["x"]), "y": str(region["y"]), "mark_type": "",
            "colour": "", "shape": "", "size": "", "description": ""}


def decorate(rows: list[dict], drawn: dict) -> list[dict]:
    """Add what the template shows beside each mark: where it is in words and in the drawing."""
    out = []
    for row in rows:
        position = mark_position(drawn, row)
        out.append({**row, "where": describe(row["side"], _number(row["x"]), _number(row["y"])),
                    "cx": None if position is None else round(position[0], 1),
                    "cy": None if position is None else round(position[1], 1)})
    return out
