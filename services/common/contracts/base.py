"""What a contract is made of: bounded field types, the error translation every service and the
gateway share, and the declarations of RPC methods, events and event subscriptions.

A contract module (one per service, beside this file) declares its word lists, a pydantic model for
every RPC command and query and every event, and registers them on a `ServiceContract`. The service
validates what it receives with these models; the gateway builds its request models, its OpenAPI
document and its typed client from the same ones, so a name or a rule exists once.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import (AfterValidator, BeforeValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter,
                      ValidationError)
from pydantic_core import InitErrorDetails, PydanticCustomError

from services.common.errors import ValidationFailed

# Ids are the databases' integer columns: a larger number can never name a row, and reaching the
# driver with one fails there (a 500) instead of here (a 422).
MAX_ID = 2**31 - 1


def _whole_number(value: Any) -> Any:
    """JSON numbers that are whole (7 or 7.0) are ids; true, "7" and 7.5 are not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("int_type", "Give a whole number.")
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticCustomError("int_type", "Give a whole number.")
        return int(value)
    return value


Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_whole_number)]
# true or false, and nothing that merely looks like one ("yes", 1, "0").
Flag = Annotated[bool, Field(strict=True)]
# Small counts and limits (page sizes and the like).
Count = Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_whole_number)]

# A JSON string may hold an unpaired UTF-16 surrogate ("\ud800"): Python keeps it, UTF-8 cannot
# encode it, and the database or the bus fails on it later. Refuse it at the door.
# NUL cannot be stored in PostgreSQL text either.
_SURROGATE = re.compile("[\ud800-\udfff\x00]")
SURROGATE_MESSAGE = ("This text holds a character that cannot be stored (an unpaired surrogate or a NUL). "
                     "Retype it and try again.")


def _no_surrogates(value: str) -> str:
    if _SURROGATE.search(value):
        raise PydanticCustomError("surrogate", SURROGATE_MESSAGE)
    return value


def Text(max_length: int, min_length: int = 0, **field_kwargs) -> Any:  # noqa: N802 (a type factory)
    """A string of at most `max_length` characters that can be stored and sent as UTF-8."""
    return Annotated[str, StringConstraints(max_length=max_length, min_length=min_length),
                     AfterValidator(_no_surrogates), Field(**field_kwargs)]


def RequiredText(max_length: int, message: str, **field_kwargs) -> Any:  # noqa: N802
    """Text that must say something (not only spaces); `message` says what to write."""
    def present(value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("required_text", message)
        return value
    # minLength is stated for the document; the check is `present`, which says what to write.
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_no_surrogates),
                     AfterValidator(present), Field(json_schema_extra={"minLength": 1}, **field_kwargs)]


# A name Haven may later put in an e-mail (a category's, a member of staff's, a school's) must not carry a
# link, an address or a second line (issue 9: a category named "Re-verify your login at https://…").
# E-mail shows names through smtp.mail_text's allow-list as well; this refuses them at the door, with a
# message, while apostrophes, hyphens, accents and full stops ("St. Mary's C.E.") stay welcome.
# A domain is letters, a full stop, then a lower-case ending: "evil.example", not "St.Mary's" nor "C.E."
# (whatever its case, e-mail shows a domain split: mail_text).
_ADDRESS = re.compile(r"://|@|\b[Ww][Ww][Ww]\.|\b[\w-]{2,}\.[a-z]{2,24}\b")
_JOINERS = "\u200c\u200d"  # format characters that Persian and Indic names need
NAME_LINK_MESSAGE = ("A name cannot hold a web or e-mail address (://, www., @, or a domain such as "
                     "example.com): Haven may show it in e-mails.")
NAME_CONTROL_MESSAGE = "A name must be one line of text, without control characters."


def name_problem(value: str) -> str | None:
    """What is wrong with `value` as a name that may reach an e-mail, or None."""
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in _JOINERS for c in value):
        return NAME_CONTROL_MESSAGE
    if _ADDRESS.search(value):
        return NAME_LINK_MESSAGE
    return None


def _a_name(value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise PydanticCustomError("name_text", problem)
    return value


def Name(max_length: int, min_length: int = 0, **field_kwargs) -> Any:  # noqa: N802 (a type factory)
    """Text that names something (a category, a person, a school) and may reach an e-mail."""
    return Annotated[str, StringConstraints(max_length=max_length, min_length=min_length),
                     AfterValidator(_no_surrogates), AfterValidator(_a_name), Field(**field_kwargs)]


EARLIEST = datetime(1990, 1, 1)
CLOCK_SKEW = timedelta(minutes=5)


def parse_moment(value: str) -> datetime:
    """ISO 8601 to naive UTC; ValueError for anything that is not a date and time on the calendar."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:
        raise ValueError("off the calendar") from None
    return parsed


def PastMoment(what: str, **field_kwargs) -> Any:  # noqa: N802
    """An ISO 8601 date and time that has happened (a few minutes' clock skew allowed), since 1990.

    Checked here, with the rest of the form, so one answer names every field to correct."""
    def happened(value: str) -> str:
        try:
            moment = parse_moment(value)
        except ValueError:
            raise PydanticCustomError("moment", f"Give the date and time {what}, e.g. 2026-03-01T09:30.") from None
        if moment > datetime.now(timezone.utc).replace(tzinfo=None) + CLOCK_SKEW:
            raise PydanticCustomError("future", "The date and time cannot be in the future.")
        if moment < EARLIEST:
            raise PydanticCustomError("too_early", "That date is too far in the past; check the year.")
        return value
    return Annotated[str, StringConstraints(max_length=40), AfterValidator(_no_surrogates),
                     AfterValidator(happened), Field(**field_kwargs)]


def item_errors(title: str, problems: list[tuple[int, str, str, Any]]) -> ValidationError:
    """Errors on items of a list field, from a field validator: (index, kind, message, item)."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError(kind, message), loc=(index,), input=item)
        for index, kind, message, item in problems])


def has_surrogates(value: str) -> bool:
    return bool(_SURROGATE.search(value))


class Contract(BaseModel):
    """Every command, query and event model: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class View(BaseModel):
    """What a service answers. Views may carry more than they declare (a reader's extra fields)."""

    model_config = ConfigDict(extra="allow")


# --- one way of turning a model's errors into field errors a form can show --------------------------

def field_name(loc: tuple, item_is_object: bool = False) -> str:
    # An item of a list of plain values is the list's field ("alert_groups", not "alert_groups.0"):
    # that is the field a form shows; an item of a list of objects keeps its index ("body_map.1",
    # "linked_pupils.1.role").
    if len(loc) > 1 and isinstance(loc[-1], int) and not item_is_object:
        loc = loc[:-1]
    return ".".join(str(p) for p in loc) or "body"


def _message(error: dict) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "This is required."
    if kind == "extra_forbidden":
        return "This field is not expected here; remove it."
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "Give a whole number."
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = ctx.get("ge", ctx.get("gt")), ctx.get("le", ctx.get("lt"))
        if high == MAX_ID:  # only ids go that high
            return "That is not a valid id."
        if low is not None and high is not None:
            return f"Give a number from {low} to {high}."
        return f"Give a number of at least {low}." if low is not None else f"Give a number up to {high}."
    if kind in ("float_type", "float_parsing", "finite_number"):
        return "Give a number."
    if kind in ("bool_type", "bool_parsing"):
        return "Give true or false."
    if kind in ("string_unicode", "surrogate"):
        return SURROGATE_MESSAGE
    if kind == "string_type":
        return "Give text."
    if kind == "string_too_long":
        return f"Keep this to {ctx.get('max_length'):,} characters or fewer."
    if kind == "string_too_short":
        return "This cannot be empty." if ctx.get("min_length") == 1 else \
            f"Give at least {ctx.get('min_length')} characters."
    if kind == "string_pattern_mismatch":
        return "This is not in the expected form."
    if kind in ("literal_error", "enum"):
        return f"Choose one of: {ctx.get('expected', '')}."
    if kind == "too_long":
        return f"Choose at most {ctx.get('max_length')}."
    if kind == "too_short":
        return f"Choose at least {ctx.get('min_length')}."
    if kind in ("list_type", "tuple_type", "set_type"):
        return "Give a list."
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "Give an object with the expected fields."
    if kind.startswith(("datetime", "date")):
        return "Give a date (and time) in ISO 8601, e.g. 2026-03-01T09:30."
    return error.get("msg", "This value is not accepted.")


def field_errors(exc: ValidationError, prefix: tuple = ()) -> list[dict]:
    return [{"field": field_name(prefix + tuple(e["loc"]), isinstance(e.get("input"), dict)),
             "message": _message(e)} for e in exc.errors()]


def where_invalid(exc: ValidationError) -> str:
    """Which fields failed and how, for a log line: never the values (they can be a child's account)."""
    return "; ".join(f"{field_name(tuple(e['loc']))}: {e['type']}" for e in exc.errors()[:5])


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    """`model(**data)` or a ValidationFailed with one error per field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


# --- declarations -------------------------------------------------------------------------------------

class NoArguments(Contract):
    """A query that takes nothing but the actor."""


@dataclass(frozen=True)
class Method:
    """One RPC method: `<service>.<name>`, what it takes and what it answers.

    `command` is the model of its keyword arguments (the wire body is
    `{"args": [actor], "kwargs": command}`); `result` describes the answer for the OpenAPI
    document and for the services' own result checks in the test suite.
    """

    service: str
    name: str
    command: type[BaseModel]
    result: Any = Any
    actor: bool = True
    timeout: float | None = None
    conflict: str | None = None  # the message when two writes collide at the database
    # Methods (routing keys) the service may call with the caller's own actor context while it serves this
    # one: the gateway names them in the context it signs (services/common/actor.py).
    delegates: tuple[str, ...] = ()

    @property
    def routing_key(self) -> str:
        return f"{self.service}.{self.name}"

    def parse(self, kwargs: dict) -> BaseModel:
        return validate(self.command, kwargs)

    def result_adapter(self) -> TypeAdapter:
        return TypeAdapter(self.result)


class Event(Contract):
    """Every event: a fact with an id, when, which school, and the ids it is about (DESIGN rule 4)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    event_type: Annotated[str, StringConstraints(max_length=120)]
    occurred_at: Annotated[str, StringConstraints(max_length=40)]
    school_id: Id


def events_exchange_name(service: str) -> str:
    """Where `service` publishes its events (DESIGN "Bus conventions")."""
    return f"{service}.events"


@dataclass(frozen=True)
class EventType:
    """A fact a service publishes on `<service>.events` with routing key `name`."""

    service: str
    name: str
    payload: type[Event]

    @property
    def exchange(self) -> str:
        return events_exchange_name(self.service)


@dataclass(frozen=True)
class Subscription:
    """`service` handles `event` in its handler `handler`; the queue name follows Nameko 2.14."""

    service: str
    handler: str
    event: EventType

    @property
    def queue(self) -> str:
        return f"evt-{self.event.service}-{self.event.name}--{self.service}.{self.handler}"


@dataclass
class ServiceContract:
    """A service's methods, the events it publishes and the events it handles, each named once."""

    service: str
    methods: dict[str, Method] = field(default_factory=dict)
    events: dict[str, EventType] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)

    def method(self, name: str, command: type[BaseModel] = NoArguments, result: Any = Any,
               **options) -> Method:
        if name in self.methods:
            raise ValueError(f"{self.service}.{name} is declared twice")
        spec = Method(self.service, name, command, result, **options)
        self.methods[name] = spec
        return spec

    def event(self, name: str, payload: type[Event]) -> EventType:
        if name in self.events:
            raise ValueError(f"{self.service}.{name} is declared twice")
        spec = EventType(self.service, name, payload)
        self.events[name] = spec
        return spec

    def handles(self, event: EventType, handler: str) -> Subscription:
        if handler in self.subscriptions:
            raise ValueError(f"{self.service}.{handler} is declared twice")
        spec = Subscription(self.service, handler, event)
        self.subscriptions[handler] = spec
        return spec
