"""The body map's outlines: part of the incidents contract, because a mark is accepted only where it
lies on the body, and the form that places marks draws the same outlines.

Marks are fractions 0–1 of an outline's box, which is twice as tall as it is wide. Both sides use one
silhouette; the labels under each figure say which is the child's left and right.
"""
from __future__ import annotations

SIDES = ("front", "back")
BOX_WIDTH, BOX_HEIGHT = 200, 400  # the drawn size of one outline's box (SVG user units)

# One half of the silhouette on a 100 × 200 grid, from the top of the head down the viewer's left
# side to the crotch; the other half is its mirror image.
_HALF = [
    (50, 2), (44, 3), (40, 6), (38.5, 11), (38.5, 17), (40, 22), (43, 26), (45, 28),  # head
    (45, 33), (36, 35), (28, 37), (23, 41),                                          # neck, shoulder
    (20, 52), (17, 68), (14, 86), (12, 100),                                         # outer arm
    (9, 106), (9, 114), (13, 118), (18, 116), (20, 109),                             # hand
    (21, 100), (24, 84), (27, 68), (30, 54),                                         # inner arm
    (32, 60), (33, 76), (33, 90), (30, 104),                                         # torso, hip
    (30, 122), (32, 146), (33, 166), (35, 183),                                      # outer leg
    (31, 192), (32, 197), (46, 197), (46, 186),                                      # foot
    (47, 166), (47, 146), (48, 124), (50, 114),                                      # inner leg
]


def _silhouette() -> list[tuple[float, float]]:
    left = _HALF
    right = [(100 - x, y) for x, y in reversed(_HALF[1:-1])]
    return [(round(x / 100, 4), round(y / 200, 4)) for x, y in left + right]


FRONT: list[tuple[float, float]] = _silhouette()
BACK: list[tuple[float, float]] = list(FRONT)  # the same outline seen from behind
OUTLINES = {"front": FRONT, "back": BACK}


def point_in_polygon(x: float, y: float, polygon: list[tuple[float, float]]) -> bool:
    """Ray casting: count how many edges a ray to the right of (x, y) crosses."""
    inside = False
    j = len(polygon) - 1
    for i, (xi, yi) in enumerate(polygon):
        xj, yj = polygon[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def on_body(side: str, x: float, y: float) -> bool:
    return side in OUTLINES and point_in_polygon(x, y, OUTLINES[side])


