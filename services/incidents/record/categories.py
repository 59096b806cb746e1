"""The school's categories: a small tree (at most MAX_DEPTH levels), each with a colour, a sensitivity
that decides who may read records in it (policy.py), default people to alert, and an active flag.

Records point at categories by id: renaming or retiring a category never alters a saved incident.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.actor import Actor

from ..exceptions import NotFound, ValidationFailed
from ..models import SENSITIVITIES, Category, IncidentCategory
from ..policy import require_category_manager
from ..roll.search import fold

MAX_DEPTH = 3
DEFAULT_COLOUR = "#5b6770"



def describe(c: Category, depth: int = 1) -> dict:
    """A category as the API shows it (the foundation's keys first)."""
    return {"id": c.id, "name": c.name, "sensitivity": c.sensitivity,
            "default_alert_groups": list(c.default_alert_groups or []),
            "default_alert_user_ids": list(c.default_alert_user_ids or []),
            "parent_id": c.parent_id, "colour": c.colour or DEFAULT_COLOUR, "active": c.active, "depth": depth}


def _school_categories(session: Session, school_id: int) -> dict[int, Category]:
    return {c.id: c for c in session.scalars(select(Category).where(Category.school_id == school_id))}


def _tree_order(categories: dict[int, Category]) -> list[tuple[Category, int]]:
    """Each parent followed by its children, siblings by name: the order a picker shows them in."""
    children: dict[int | None, list[Category]] = {}
    for c in categories.values():
        parent = c.parent_id if c.parent_id in categories else None
        children.setdefault(parent, []).append(c)
    ordered: list[tuple[Category, int]] = []

    def visit(parent: int | None, depth: int) -> None:
        for c in sorted(children.get(parent, []), key=lambda c: (fold(c.name), c.id)):
            ordered.append((c, depth))
            visit(c.id, depth + 1)

    visit(None, 1)
    return ordered


def list_categories(session: Session, actor: Actor, include_inactive: bool = False) -> list[dict]:
    """A flat list in tree order, with parent_id and depth to draw the tree. Retired categories only
    for the DSL team, on request."""
    if include_inactive:
        require_category_manager(actor)
    categories = _school_categories(session, actor.school_id)
    return [describe(c, depth) for c, depth in _tree_order(categories) if include_inactive or c.active]


def _depth(categories: dict[int, Category], category_id: int | None) -> int:
    depth = 0
    while category_id is not None and depth <= MAX_DEPTH + 1:
        depth += 1
        category_id = categories[category_id].parent_id
    return depth


def _height(categories: dict[int, Category], category_id: int) -> int:
    """Levels in the subtree under (and including) this category."""
    kids = [c.id for c in categories.values() if c.parent_id == category_id]
    return 1 + max((_height(categories, k) for k in kids), default=0)


def _descendants(categories: dict[int, Category], category_id: int) -> set[int]:
    found, todo = set(), [category_id]
    while todo:
        parent = todo.pop()
        for c in categories.values():
            if c.parent_id == parent and c.id not in found:
                found.add(c.id)
                todo.append(c.id)
    return found


def _validate(session: Session, actor: Actor, data: dict, current: Category | None,
              categories: dict[int, Category]) -> dict:
    """Check every field given against the school's tree; report all problems together. Returns the
    clean values. The contract (CategoryIn, CategoryChanges) has checked each value's form: lengths,
    the colour's and the sensitivity's patterns, the alert groups, at most 50 staff; a field given as
    null in a change is refused here."""
    errors: list[dict] = []

    def error(f: str, message: str) -> None:
        errors.append({"field": f, "message": message})

    clean: dict = {}

    if "name" in data or current is None:
        name = " ".join((data.get("name") or "").split())
        if not name:
            error("name", "Give the category a name.")
        elif any(fold(c.name) == fold(name) for c in categories.values() if current is None or c.id != current.id):
            error("name", f"There is already a category called '{name}'. Choose another name, or reactivate "
                          "the existing one.")
        else:
            clean["name"] = name

    if "parent_id" in data:
        parent_id = data["parent_id"]
        parent = categories.get(parent_id)
        if parent_id is None:
            clean["parent_id"] = None
        elif parent is None:
            error("parent_id", "The parent category is not one of this school's categories.")
        elif current is not None and parent.id == current.id:
            error("parent_id", "A category cannot be its own parent.")
        elif current is not None and parent.id in _descendants(categories, current.id):
            error("parent_id", f"'{parent.name}' is inside '{current.name}': a category cannot be placed inside "
                               "one of its own sub-categories.")
        elif _depth(categories, parent.id) + (_height(categories, current.id) if current else 1) > MAX_DEPTH:
            error("parent_id", f"Categories can be at most {MAX_DEPTH} levels deep; choose a parent higher up "
                               "the tree.")
        elif not parent.active and data.get("active", current.active if current else True):
            error("parent_id", f"'{parent.name}' is no longer in use; choose an active parent.")
        else:
            clean["parent_id"] = parent.id

    if "colour" in data or current is None:
        colour = data.get("colour", DEFAULT_COLOUR)
        if colour is None:
            error("colour", "Give the colour as # and six hexadecimal digits, e.g. #c0392b.")
        else:
            clean["colour"] = colour.lower()

    if "sensitivity" in data or current is None:
        sensitivity = data.get("sensitivity")
        if sensitivity is None:
            error("sensitivity", f"Choose who may read records in it: {', '.join(SENSITIVITIES)}, or a "
                                 "level of your own.")
        elif current is not None and sensitivity != current.sensitivity and sensitivity != "safeguarding" \
                and _has_records(session, current.id):
            # Readers are decided by the sensitivity: changing it on saved records could show them to
            # people who could not read them before. Making it stricter is always allowed.
            error("sensitivity", f"'{current.name}' already holds records; changing its sensitivity could let "
                                 "more staff read them. Create a new category for the new level and retire "
                                 "this one.")
        else:
            clean["sensitivity"] = sensitivity

    if "default_alert_groups" in data or current is None:
        clean["default_alert_groups"] = list(dict.fromkeys(data.get("default_alert_groups") or []))

    if "default_alert_user_ids" in data or current is None:
        clean["default_alert_user_ids"] = list(dict.fromkeys(data.get("default_alert_user_ids") or []))

    if "active" in data:
        active = data["active"]
        if active is None:
            error("active", "Active must be true or false.")
        elif current is not None and not active:
            in_use = sorted(c.name for c in categories.values() if c.parent_id == current.id and c.active)
            if in_use:
                error("active", f"'{current.name}' still has categories in use inside it ({', '.join(in_use)}); "
                                "retire or move them first.")
            else:
                clean["active"] = False
        elif active and current is not None:
            parent_id = clean.get("parent_id", current.parent_id) if "parent_id" in data else current.parent_id
            if parent_id is not None and not categories[parent_id].active:
                error("active", f"Its parent '{categories[parent_id].name}' is not in use; reactivate the parent "
                                "first or move this category.")
            else:
                clean["active"] = True
        else:
            clean["active"] = active

    if errors:
        raise ValidationFailed(errors)
    return clean


def _has_records(session: Session, category_id: int) -> bool:
    return session.scalar(select(IncidentCategory.incident_id)
                          .where(IncidentCategory.category_id == category_id).limit(1)) is not None


def create_category(session: Session, actor: Actor, data: dict) -> dict:
    require_category_manager(actor)
    categories = _school_categories(session, actor.school_id)
    clean = _validate(session, actor, data, None, categories)
    category = Category(school_id=actor.school_id, active=clean.pop("active", True), **clean)
    session.add(category)
    session.flush()
    categories[category.id] = category
    return describe(category, _depth(categories, category.id))


def update_category(session: Session, actor: Actor, category_id: int, changes: dict) -> dict:
    """Change only the fields given. Retiring a category leaves past incidents exactly as they were."""
    require_category_manager(actor)
    categories = _school_categories(session, actor.school_id)
    category = categories.get(category_id)
    if category is None:
        raise NotFound("No such category.")
    for f, value in _validate(session, actor, changes, category, categories).items():
        setattr(category, f, value)
    session.flush()
    return describe(category, _depth(categories, category.id))


def add_category(session: Session, actor: Actor, command) -> dict:
    """incidents.create_category: the fields the caller gave (a field left out takes its default)."""
    return create_category(session, actor, command.category.model_dump(exclude_unset=True))


def change_category(session: Session, actor: Actor, command) -> dict:
    """incidents.update_category: only the fields the caller gave are changed."""
    return update_category(session, actor, command.category_id, command.changes.model_dump(exclude_unset=True))
