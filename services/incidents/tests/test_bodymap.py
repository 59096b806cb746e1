"""The body map's outlines and drawing: plain functions, no database."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import combinations

import pytest

from services.incidents.record import bodymap
from services.incidents.models import MARK_TYPES

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def marks_in(root) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "mark" in (g.get("class") or "").split()]


@pytest.mark.parametrize("side", bodymap.SIDES)
@pytest.mark.parametrize("where,inside", [
    ((0.5, 0.08), True),    # head
    ((0.5, 0.155), True),   # neck
    ((0.5, 0.35), True),    # chest
    ((0.17, 0.4), True),    # right arm (as drawn on the left)
    ((0.83, 0.4), True),    # left arm
    ((0.13, 0.55), True),   # hand
    ((0.4, 0.8), True),     # leg
    ((0.6, 0.95), True),    # ankle
    ((0.5, 0.75), False),   # between the legs
    ((0.25, 0.45), False),  # between arm and body
    ((0.3, 0.05), False),   # beside the head
    ((0.05, 0.9), False),   # far corner
    ((0.5, 0.995), False),  # below the feet
])
def test_outline_is_a_body(side, where, inside):
    assert bodymap.on_body(side, *where) is inside


def test_unknown_side_is_never_on_the_body():
    assert not bodymap.on_body("left", 0.5, 0.35)


def test_outline_fits_the_box_and_is_a_simple_polygon():
    """No edge crosses another, so 'inside' means what a reader sees as inside."""
    for polygon in (bodymap.FRONT, bodymap.BACK):
        assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in polygon)
        edges = list(zip(polygon, polygon[1:] + polygon[:1]))

        def cross(a, b, c):
            return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

        for (i, (p1, p2)), (j, (q1, q2)) in combinations(enumerate(edges), 2):
            if j - i == 1 or (i == 0 and j == len(edges) - 1):
                continue  # neighbours share a corner
            crosses = (cross(p1, p2, q1) * cross(p1, p2, q2) < 0) and (cross(q1, q2, p1) * cross(q1, q2, p2) < 0)
            assert not crosses, f"edges {i} and {j} cross"


def test_outline_is_symmetric():
    assert sorted((round(1 - x, 4), y) for x, y in bodymap.FRONT) == sorted(bodymap.FRONT)


def test_point_in_polygon_on_a_square():
    square = [(0, 0), (1, 0), (1, 1), (0, 1)]
    assert bodymap.point_in_polygon(0.5, 0.5, square)
    assert not bodymap.point_in_polygon(1.5, 0.5, square)


def test_outline_for_the_form_is_json_ready():
    outline = bodymap.outline()
    assert outline["box"] == {"width": 200, "height": 400}
    assert outline["sides"]["front"][0] == list(bodymap.FRONT[0])
    assert set(outline["sides"]) == {"front", "back"}


MARKS = [{"side": "front", "x": 0.5, "y": 0.35, "mark_type": t, "colour": "blue", "description": f"mark {t}"}
         for t in MARK_TYPES] + [{"side": "back", "x": 0.4, "y": 0.8, "mark_type": "cut"}]


def test_svg_draws_both_outlines_and_a_numbered_symbol_per_mark():
    root = parse(bodymap.render_svg(MARKS))
    assert root.get("viewBox", "").startswith("0 0 ") and root.get("width") is None  # scales to its box
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "Front" in labels and "Back" in labels
    assert len(root.findall(f".//{SVG}polygon[@stroke='#444444']")) == 2
    drawn = marks_in(root)
    assert [g.get("data-number") for g in drawn] == [str(n) for n in range(1, len(MARKS) + 1)]
    for g, mark in zip(drawn, MARKS):
        assert g.find(f"{SVG}title") is not None and g.find(f"{SVG}title").text.startswith(f"{g.get('data-number')}. ")
        shapes = [child for child in g if child.tag != f"{SVG}title" and child.tag != f"{SVG}text"]
        assert len(shapes) == 1
        assert g.find(f"{SVG}text").text == g.get("data-number")
        assert f"mark-{mark['mark_type']}" in g.get("class")


def test_each_type_of_mark_looks_different():
    drawn = {}
    for mark_type in MARK_TYPES:
        g = marks_in(parse(bodymap.render_svg([{"side": "front", "x": 0.5, "y": 0.35, "mark_type": mark_type}])))[0]
        shape = next(c for c in g if c.tag not in (f"{SVG}title", f"{SVG}text"))
        drawn[mark_type] = (shape.tag, shape.get("fill"), shape.get("stroke"), shape.get("stroke-dasharray"))
    assert len(set(drawn.values())) == len(MARK_TYPES)


def test_one_side_only_keeps_the_numbers():
    root = parse(bodymap.render_svg(MARKS, side="back"))
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "Back" in labels and "Front" not in labels
    assert [g.get("data-number") for g in marks_in(root)] == [str(len(MARKS))]


def test_svg_escapes_what_was_typed_and_refers_to_nothing_outside():
    nasty = '<script>alert(1)</script> & "quoted" <a href="http://evil.test">x</a>'
    svg = bodymap.render_svg([{"side": "front", "x": 0.5, "y": 0.35, "mark_type": "bruise", "colour": nasty,
                               "description": nasty, "shape": "]]>", "size": "<!--"}])
    root = parse(svg)  # well-formed
    assert "<script" not in svg and "<a " not in svg and "<!--" not in svg
    assert not [el for el in root.iter() if el.tag in (f"{SVG}script", f"{SVG}a", f"{SVG}image", f"{SVG}use",
                                                        f"{SVG}foreignObject", f"{SVG}style")]
    for el in root.iter():
        assert not any("href" in name for name in el.attrib), el.tag
        assert not any("url(" in value or "http" in value for value in el.attrib.values()), el.tag
    plain = bodymap.render_svg(MARKS)
    assert "href" not in plain and "url(" not in plain
    assert plain.count("http") == 1  # the namespace, nothing fetched
    title = marks_in(root)[0].find(f"{SVG}title").text
    assert "<script>alert(1)</script>" in title  # shown as text, not markup


def test_an_empty_body_map_still_draws_the_outlines():
    root = parse(bodymap.render_svg([]))
    assert marks_in(root) == []
    assert root.find(f"{SVG}title").text == "Body map (Front, Back): 0 marks"
