"""The school's categories (categories.py): the tree, validation, and who may change them."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from services.incidents.record import categories
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.models import Category, Incident, IncidentCategory

from .conftest import DSL_USER, OTHER_SCHOOL, SCHOOL, SLT_USER, TEACHER, actor, category_id, pupil_id


def dsl(**kwargs):
    return actor(DSL_USER, roles=("dsl",), second_factor=True, **kwargs)


def create(session, **fields) -> dict:
    return categories.create_category(session, dsl(), {"sensitivity": "pastoral", **fields})


def incident_in(session, category: int) -> Incident:
    """A saved incident in this category (written directly: these tests are about categories)."""
    incident = Incident(school_id=SCHOOL, pupil_id=pupil_id(session, "Quigley"), occurred_at=datetime(2026, 1, 5, 9, 30),
                        recorded_by=TEACHER, recorded_by_name="Tom Archer", account="Came in without a coat again.")
    session.add(incident)
    session.flush()
    session.add(IncidentCategory(incident_id=incident.id, category_id=category))
    session.flush()
    return incident


def errors(call, *args) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        call(*args)
    return {e["field"]: e["message"] for e in caught.value.errors}


def test_the_list_is_flat_in_tree_order_with_parents_colours_and_depth(session):
    listed = categories.list_categories(session, actor())
    by_name = {c["name"]: c for c in listed}
    assert set(listed[0]) >= {"id", "name", "sensitivity", "default_alert_groups", "default_alert_user_ids",
                              "parent_id", "colour", "active", "depth"}
    safeguarding = by_name["Safeguarding"]
    assert (safeguarding["parent_id"], safeguarding["depth"], safeguarding["colour"]) == (None, 1, "#c0392b")
    children = [c["name"] for c in listed if c["parent_id"] == safeguarding["id"]]
    assert children == ["Neglect", "Online safety", "Physical abuse"]
    at = [c["name"] for c in listed].index("Safeguarding")
    assert [c["name"] for c in listed[at + 1:at + 4]] == children  # each parent is followed by its children
    assert by_name["Neglect"]["depth"] == 2 and by_name["Neglect"]["default_alert_groups"] == ["dsl"]
    assert "Retired category" not in by_name
    assert all(c["active"] for c in listed)


def test_retired_categories_are_listed_for_the_dsl_team_only(session):
    assert "Retired category" in [c["name"] for c in categories.list_categories(session, dsl(), True)]
    for who in (actor(), actor(SLT_USER, roles=("slt",), second_factor=True)):
        with pytest.raises(Forbidden):
            categories.list_categories(session, who, True)


def test_the_dsl_adds_a_category_inside_another(session):
    created = create(session, name="  Radicalisation ", parent_id=category_id(session, "Safeguarding"),
                     colour="#AA3300", sensitivity="safeguarding", default_alert_groups=["dsl", "dsl"],
                     default_alert_user_ids=[7, 8])
    assert created["name"] == "Radicalisation"
    assert (created["colour"], created["depth"], created["active"]) == ("#aa3300", 2, True)
    assert (created["default_alert_groups"], created["default_alert_user_ids"]) == (["dsl"], [7, 8])
    assert "Radicalisation" in [c["name"] for c in categories.list_categories(session, actor())]
    school_defined = create(session, name="Young carers", sensitivity="young-carers")
    assert (school_defined["sensitivity"], school_defined["colour"], school_defined["parent_id"]) == (
        "young-carers", "#5b6770", None)


def test_every_problem_is_reported_together(session):
    # The form's own rules (colour, sensitivity, groups, lengths) are the contract's: test_contract.py.
    found = errors(categories.create_category, session, dsl(), {
        "name": "safeguarding", "parent_id": 999_999, "colour": None, "sensitivity": None, "active": None})
    assert set(found) == {"name", "parent_id", "colour", "sensitivity", "active"}
    assert found["name"] == ("There is already a category called 'safeguarding'. Choose another name, or "
                             "reactivate the existing one.")
    assert found["colour"].startswith("Give the colour as # and six hexadecimal digits")
    assert set(errors(categories.create_category, session, dsl(), {})) == {"name", "sensitivity"}


def test_a_parent_must_belong_to_the_school(session):
    elsewhere = category_id(session, "Safeguarding", school_id=OTHER_SCHOOL)
    assert errors(categories.create_category, session, dsl(), {
        "name": "X", "sensitivity": "pastoral", "parent_id": elsewhere}) == {
        "parent_id": "The parent category is not one of this school's categories."}


def test_the_tree_is_at_most_three_levels_deep(session):
    neglect = category_id(session, "Neglect")
    third = create(session, name="Food", parent_id=neglect)
    assert third["depth"] == 3
    assert errors(categories.create_category, session, dsl(), {
        "name": "Breakfast", "sensitivity": "pastoral", "parent_id": third["id"]}) == {
        "parent_id": "Categories can be at most 3 levels deep; choose a parent higher up the tree."}
    # Moving Safeguarding (three levels now) under anything would make four.
    assert "parent_id" in errors(categories.update_category, session, dsl(), category_id(session, "Safeguarding"),
                                 {"parent_id": category_id(session, "Attendance")})


def test_a_category_cannot_be_moved_inside_itself(session):
    safeguarding, neglect = category_id(session, "Safeguarding"), category_id(session, "Neglect")
    assert errors(categories.update_category, session, dsl(), safeguarding, {"parent_id": neglect}) == {
        "parent_id": "'Neglect' is inside 'Safeguarding': a category cannot be placed inside one of its own "
                     "sub-categories."}
    assert errors(categories.update_category, session, dsl(), safeguarding, {"parent_id": safeguarding}) == {
        "parent_id": "A category cannot be its own parent."}


def test_moving_renaming_and_recolouring(session):
    online = category_id(session, "Online safety")
    moved = categories.update_category(session, dsl(), online, {"parent_id": None, "name": "E-safety",
                                                                "colour": "#123abc"})
    assert (moved["parent_id"], moved["name"], moved["colour"], moved["depth"]) == (None, "E-safety", "#123abc", 1)
    assert moved["sensitivity"] == "safeguarding"  # untouched: only the fields sent change


def test_retiring_a_category_leaves_past_incidents_as_they_were(session):
    neglect = category_id(session, "Neglect")
    incident = incident_in(session, neglect)
    retired = categories.update_category(session, dsl(), neglect, {"active": False})
    assert retired["active"] is False
    assert "Neglect" not in [c["name"] for c in categories.list_categories(session, actor())]
    session.expire_all()
    assert [c.name for c in session.get(Incident, incident.id).categories] == ["Neglect"]
    assert categories.update_category(session, dsl(), neglect, {"active": True})["active"] is True


def test_a_parent_with_categories_in_use_cannot_be_retired(session):
    assert errors(categories.update_category, session, dsl(), category_id(session, "Behaviour"),
                  {"active": False}) == {
        "active": "'Behaviour' still has categories in use inside it (Bullying); retire or move them first."}
    retired = category_id(session, "Retired category")
    assert errors(categories.create_category, session, dsl(), {
        "name": "Under retired", "sensitivity": "pastoral", "parent_id": retired}) == {
        "parent_id": "'Retired category' is no longer in use; choose an active parent."}


def test_a_category_holding_records_may_only_become_stricter(session):
    behaviour = category_id(session, "Bullying")
    incident_in(session, behaviour)
    assert set(errors(categories.update_category, session, dsl(), behaviour, {"sensitivity": "pastoral"})) == {
        "sensitivity"}
    stricter = categories.update_category(session, dsl(), behaviour, {"sensitivity": "safeguarding"})
    assert stricter["sensitivity"] == "safeguarding"
    unused = create(session, name="Unused yet")
    assert categories.update_category(session, dsl(), unused["id"], {"sensitivity": "medical"})["sensitivity"] == \
        "medical"


@pytest.mark.parametrize("who", [actor(), actor(SLT_USER, roles=("slt",), second_factor=True),
                                 actor(DSL_USER, roles=("dsl",), second_factor=False)],
                         ids=["teacher", "slt", "dsl-without-second-factor"])
def test_only_the_dsl_team_may_change_categories(session, who):
    with pytest.raises(Forbidden):
        categories.create_category(session, who, {"name": "Sneaky", "sensitivity": "pastoral"})
    with pytest.raises(Forbidden):
        categories.update_category(session, who, category_id(session, "Medical"), {"name": "Sneaky"})
    assert session.scalar(select(Category).where(Category.name == "Sneaky")) is None


def test_another_schools_category_is_not_found(session):
    with pytest.raises(NotFound):
        categories.update_category(session, dsl(), category_id(session, "Safeguarding", school_id=OTHER_SCHOOL),
                                   {"name": "Mine now"})
    with pytest.raises(NotFound):
        categories.update_category(session, dsl(), "1", {"name": "x"})
