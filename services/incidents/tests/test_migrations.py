"""A school upgrading with records already written: the incident lines it has get the details the DSL
team reads on them (chronology/details.py), as if Haven had written them today."""
from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from services.common.db import normalise_url
from services.common.testing import fresh_database
from services.incidents.chronology import details

from .conftest import MIGRATIONS

BEFORE_DETAILS = "c3a9d1e5f7b2"
ACCOUNT = "Said   she had no\nbreakfast. " + "She was hungry all morning. " * 8


def test_the_lines_already_written_get_their_details_on_upgrade():
    with fresh_database("haven_incidents_migration") as url:
        url = normalise_url(url)
        config = Config()
        config.set_main_option("script_location", MIGRATIONS)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        command.upgrade(config, BEFORE_DETAILS)
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO schools (id, name, roll_version) VALUES (1, 'School', '')"))
                conn.execute(text(
                    "INSERT INTO pupils (id, school_id, upn, legal_forename, legal_surname, year_group, on_roll) "
                    "VALUES (1, 1, 'A000000000001', 'Ann', 'Pupil', 'Year 3', true), "
                    "(2, 1, 'A000000000002', 'Bo', 'Other', 'Year 3', true)"))
                for incident_id in (1, 2):
                    conn.execute(text(
                        "INSERT INTO incidents (id, school_id, pupil_id, occurred_at, recorded_at, recorded_by, "
                        "recorded_by_name, account, urgent, record_type, dsl_informed_verbally, source) "
                        "VALUES (:i, 1, 1, now(), now(), 10, 'Tom Archer', :a, false, 'observation', false, 'staff')"),
                        {"i": incident_id, "a": ACCOUNT})
                conn.execute(text(
                    "INSERT INTO amendments (incident_id, field, new_value, reason, author_id, author_name, created_at) "
                    "VALUES (2, 'account', 'Said she had no tea.', 'Misheard.', 10, 'Tom Archer', now())"))
                conn.execute(text(
                    "INSERT INTO outcomes (school_id, incident_id, outcome_type, recorded_at, recorded_by, "
                    "recorded_by_name) VALUES (1, 1, 'monitoring', now() - interval '1 day', 20, 'Dana Shah'), "
                    "(1, 1, 'escalated', now(), 20, 'Dana Shah')"))
                conn.execute(text(
                    "INSERT INTO chronology (school_id, pupil_id, entry_type, ref_id, incident_id, occurred_at, title, "
                    "category_ids, sensitivities, significant) VALUES "
                    "(1, 1, 'incident', '1', 1, now(), 'Observation', '[]', '[]', false), "
                    "(1, 2, 'incident', '1', 1, now(), 'Observation', '[]', '[]', false), "
                    "(1, 1, 'outcome', '1', 1, now(), 'Outcome: escalated', '[]', '[]', false), "
                    "(1, 1, 'incident', '2', 2, now(), 'Observation', '[]', '[]', false)"))
            command.upgrade(config, "head")
            with engine.connect() as conn:
                lines = conn.execute(text("SELECT pupil_id, entry_type, incident_id, excerpt, recorded_by_name, outcome "
                                          "FROM chronology ORDER BY id")).all()
        finally:
            engine.dispose()
    assert [tuple(line) for line in lines] == [
        (1, "incident", 1, details.excerpt(ACCOUNT), "Tom Archer", "Escalated"),
        (2, "incident", 1, details.excerpt(ACCOUNT), "Tom Archer", "Escalated"),  # a linked pupil's line too
        (1, "outcome", 1, None, None, None),
        (1, "incident", 2, "Said she had no tea.", "Tom Archer", None)]
    assert lines[0].excerpt.startswith("Said she had no breakfast. She was") and lines[0].excerpt.endswith("…")
