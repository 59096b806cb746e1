"""The contracts are the one registry: every service serves exactly its contract's methods, every
event handler is a declared subscription, and the topology declares each handler's queue."""
from __future__ import annotations

import pytest
from nameko.events import EventHandler
from nameko.rpc import Rpc

from services.common import contracts, topology
from services.common.contracts.base import MAX_ID
from services.common.errors import ValidationFailed


def service_classes():
    from services.alerts.service import AlertsService
    from services.documents.service import DocumentsService
    from services.incidents.service import IncidentsService
    from services.transfers.service import TransfersService
    return (IncidentsService, AlertsService, DocumentsService, TransfersService)


def entrypoints(cls, kind):
    found = {}
    for name in dir(cls):
        for entrypoint in getattr(getattr(cls, name), "nameko_entrypoints", ()):
            if isinstance(entrypoint, kind):
                found[name] = entrypoint
    return found


@pytest.mark.parametrize("cls", service_classes(), ids=lambda c: c.name)
def test_a_service_serves_exactly_its_contracts_methods(cls):
    assert set(entrypoints(cls, Rpc)) == set(contracts.by_service(cls.name).methods)


@pytest.mark.parametrize("cls", service_classes(), ids=lambda c: c.name)
def test_every_event_handler_has_its_queue_in_the_topology(cls):
    declared = set(topology.handler_queue_names())
    for name, handler in entrypoints(cls, EventHandler).items():
        queue = f"evt-{handler.source_service}-{handler.event_type}--{cls.name}.{name}"
        assert queue in declared, f"{queue} would not exist before its first event"
    assert set(entrypoints(cls, EventHandler)) == set(contracts.by_service(cls.name).subscriptions)


def test_every_subscription_is_to_an_event_its_publisher_declares():
    for subscription in contracts.subscriptions():
        publisher = contracts.by_service(subscription.event.service)
        assert publisher.events[subscription.event.name] is subscription.event


def test_no_name_is_declared_twice():
    contract = contracts.by_service("transfers")
    with pytest.raises(ValueError, match="declared twice"):
        contract.method("health")


def test_every_id_in_every_command_is_bounded_to_the_databases_range():
    """A 30-digit id must be a 422 at the door, never reach a driver (DESIGN pitfalls)."""
    for contract in contracts.ALL:
        for method in contract.methods.values():
            schema = method.command.model_json_schema()
            for name, prop in _integer_properties(schema):
                assert prop.get("maximum") is not None and prop["maximum"] <= MAX_ID, \
                    f"{method.routing_key}: {name} is unbounded"


def _integer_properties(schema, prefix=""):
    defs = schema.get("$defs", {})

    def walk(node, path):
        if "$ref" in node:
            yield from walk(defs[node["$ref"].rsplit("/", 1)[-1]], path)
            return
        if node.get("type") == "integer":
            yield path, node
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []):
                yield from walk(option, path)
        if "items" in node:
            yield from walk(node["items"], path + "[]")
        for name, child in node.get("properties", {}).items():
            yield from walk(child, f"{path}.{name}" if path else name)

    yield from walk(schema, prefix)


def test_field_errors_speak_plainly():
    with pytest.raises(ValidationFailed) as refused:
        contracts.documents.store_document.parse({"incident_id": 2**100, "filename": "x" * 300,
                                                  "content_type": "\ud800", "content_b64": "", "colour": 1})
    messages = {e["field"]: e["message"] for e in refused.value.errors}
    assert messages["incident_id"] == "That is not a valid id."
    assert messages["filename"] == "Keep this to 255 characters or fewer."
    assert "cannot be stored" in messages["content_type"]
    assert messages["colour"] == "This field is not expected here; remove it."
    assert messages["content_b64"] == "This cannot be empty."


def test_ids_are_whole_json_numbers_only():
    parse = contracts.incidents.get_incident.parse
    assert parse({"incident_id": 7.0}).incident_id == 7  # JSON has one number type
    for wrong in (True, "7", 7.5, None, [7]):
        with pytest.raises(ValidationFailed) as refused:
            parse({"incident_id": wrong})
        assert refused.value.errors[0]["field"] == "incident_id"


def test_text_refuses_nul_which_postgresql_cannot_store():
    with pytest.raises(ValidationFailed) as refused:
        contracts.documents.store_document.parse({"incident_id": 1, "filename": "a\x00.txt",
                                                  "content_type": "text/plain", "content_b64": "aGk="})
    assert [e["field"] for e in refused.value.errors] == ["filename"]


CRAFTED_NAMES = ["Re-verify your login at https://evil.example", "Visit www.evil.example", "WWW.EVIL.EXAMPLE",
                 "Write to reset@evil.example", "go to evil.example now", "Behaviour\nBcc: x", "Tab\there",
                 "Line\u2028break", "Right\u202eto-left"]
FAIR_NAMES = ["Online safety (e.g. sexting)", "St. Mary's C.E. Primary", "Siân O’Brien-Smith", "Zoë d’Arcy-Núñez",
              "Child protection / CP", "J.R.R. Tolkien", "Physical abuse", "Year 6.5", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"]


@pytest.mark.parametrize("name", CRAFTED_NAMES)
def test_a_category_name_cannot_hold_a_link_an_address_or_a_second_line(name):
    category = {"name": name, "sensitivity": "safeguarding"}
    with pytest.raises(ValidationFailed) as refused:
        contracts.incidents.create_category.parse({"category": category})
    [error] = refused.value.errors
    assert error["field"] == "category.name"
    assert "address" in error["message"] or "one line" in error["message"]
    with pytest.raises(ValidationFailed):
        contracts.incidents.update_category.parse({"category_id": 1, "changes": {"name": name}})


@pytest.mark.parametrize("name", FAIR_NAMES)
def test_names_with_apostrophes_hyphens_accents_and_full_stops_are_welcome(name):
    parsed = contracts.incidents.create_category.parse({"category": {"name": name, "sensitivity": "pastoral"}})
    assert parsed.category.name == name
