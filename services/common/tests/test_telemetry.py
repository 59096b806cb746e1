"""telemetry.py: what a message's headers may put on a log line, and what a log line is."""
from __future__ import annotations

import json
import logging

import pytest

from services.common import telemetry
from services.common.telemetry import REQUEST_ID_HEADER, TRACEPARENT_HEADER

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_message_s_request_id_and_traceparent_reach_the_worker():
    assert telemetry.context_data({REQUEST_ID_HEADER: "abc-123", TRACEPARENT_HEADER: PARENT, "other": "x"}) == {
        REQUEST_ID_HEADER: "abc-123", TRACEPARENT_HEADER: PARENT}


@pytest.mark.parametrize("headers", [
    {REQUEST_ID_HEADER: "two\nlines"}, {REQUEST_ID_HEADER: "x" * 65}, {REQUEST_ID_HEADER: 42},
    {REQUEST_ID_HEADER: "Ezra Lewis"}, {TRACEPARENT_HEADER: "00-not-a-trace"}, {TRACEPARENT_HEADER: ["a"]},
    None, {}])
def test_a_header_that_is_not_a_request_id_or_traceparent_is_dropped(headers):
    """Anyone who may publish can set a header: only what looks like an id may reach a log line."""
    assert telemetry.context_data(headers) == {}


def test_nothing_is_sent_on_outside_a_request_and_with_tracing_off():
    assert telemetry.outgoing() == {}
    with telemetry.bound("req-1"):
        assert telemetry.outgoing() == {REQUEST_ID_HEADER: "req-1"}
    assert telemetry.outgoing() == {}


def test_a_worker_binds_the_request_id_of_its_message_until_it_closes():
    handling = telemetry.Handling("incidents.get_incident", telemetry.SpanKind.SERVER,
                                  {REQUEST_ID_HEADER: "req-2", TRACEPARENT_HEADER: PARENT}, {})
    assert telemetry.current_request_id() == "req-2"
    assert telemetry.outgoing() == {REQUEST_ID_HEADER: "req-2", TRACEPARENT_HEADER: PARENT}  # passed on as it came
    handling.close()
    assert telemetry.current_request_id() is None


def record(message: str, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("haven.test", logging.WARNING, __file__, 1, message, (), exc_info)


def test_a_json_line_carries_the_request_id_and_the_process():
    formatter = telemetry.JsonFormatter("alerts")
    with telemetry.bound("req-3"):
        entry = json.loads(formatter.format(record('mail for "incident 7"\nsent')))
    assert entry["request_id"] == "req-3" and entry["process"] == "alerts" and entry["level"] == "WARNING"
    assert entry["message"] == 'mail for "incident 7"\nsent'  # one line, however many the message has
    assert "\n" not in formatter.format(record("a\nb"))
    assert json.loads(formatter.format(record("outside")))["request_id"] is None


def test_a_json_line_keeps_a_traceback_on_the_same_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys
        line = telemetry.JsonFormatter("gateway").format(record("failed", sys.exc_info()))
    assert "\n" not in line and "RuntimeError: boom" in json.loads(line)["error"]


def test_an_unknown_log_format_or_exporter_stops_the_process_with_what_to_set():
    with pytest.raises(SystemExit, match="HAVEN_LOG_FORMAT must be one of json, text"):
        telemetry.configure_logging("gateway", "xml")
    with pytest.raises(SystemExit, match="HAVEN_OTEL_EXPORTER must be one of none, otlp"):
        telemetry.configure_tracing("gateway", "jaeger")
