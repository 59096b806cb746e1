"""Domain errors rebuilt from Nameko's serialised form (services/common/errors.error_from_remote)."""
from __future__ import annotations

from services.common.errors import (
    Forbidden,
    HavenError,
    IntegrityFailed,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
    error_from_remote,
)

FIELD_ERRORS = [{"field": "account", "message": "Write what you saw, heard or were told."}]


def test_validation_failed_keeps_its_field_errors():
    original = ValidationFailed(FIELD_ERRORS)
    err = error_from_remote("ValidationFailed", list(original.args))
    assert type(err) is ValidationFailed
    assert err.errors == FIELD_ERRORS
    assert err.message == "Some fields need correcting."
    assert err.status_code == 422


def test_message_and_status_survive_the_trip():
    err = error_from_remote("NotFound", ["No such incident."])
    assert type(err) is NotFound and err.message == "No such incident." and err.status_code == 404
    assert isinstance(error_from_remote("Forbidden", ["No."]), Forbidden)
    assert error_from_remote("IntegrityFailed", []).status_code == IntegrityFailed.status_code


def test_missing_args_give_the_default_message():
    assert error_from_remote("Forbidden", []).message == Forbidden.default_message
    assert error_from_remote("Forbidden", None).message == Forbidden.default_message
    assert error_from_remote("ValidationFailed", None).errors == []


def test_service_unavailable_keeps_the_service_name():
    err = error_from_remote("ServiceUnavailable", ["Down.", "documents"])
    assert type(err) is ServiceUnavailable and isinstance(err, HavenError)
    assert err.service == "documents" and err.status_code == 503


def test_unknown_type_is_not_ours():
    assert error_from_remote("KeyError", ["x"]) is None
    assert error_from_remote("RemoteError", []) is None
    assert error_from_remote("", []) is None


def test_database_errors_do_not_carry_the_values_into_logs():
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from services.common.db import make_engine
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, account TEXT NOT NULL UNIQUE)"))
        conn.execute(text("INSERT INTO t (account) VALUES (:a)"), {"a": "a secret account"})
    with pytest.raises(IntegrityError) as failure, engine.begin() as conn:
        conn.execute(text("INSERT INTO t (account) VALUES (:a)"), {"a": "a secret account"})
    assert "a secret account" not in str(failure.value)
