"""Issue 10, "Watching it run": one request followed through a whole Haven by its request id and its trace.

A Haven of its own runs with tracing on, exporting over OTLP/HTTP to a collector in this test (it decodes
the protobuf the way a real collector does). A teacher records an urgent concern; the request id the gateway
answered with must be on the lines the gateway, the incidents service and the alerts service wrote about it,
and the spans must form one trace: the gateway's request → its call → the incidents service's method → the
alerts service handling the event that method published. Every line every process wrote is one JSON object.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                       ExportTraceServiceResponse)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from .client import Api, eventually
from .stack import Stack
from .test_end_to_end import DSL, TEACHER, ago, category

PROCESSES = ("gateway", "incidents", "alerts", "documents", "transfers")


class Collector:
    """An OTLP/HTTP trace receiver: every span any process exported, with the process's service.name."""

    def __init__(self):
        self.spans: list[tuple[str, Span]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
                with collector.lock:
                    for resource_spans in request.resource_spans:
                        service = next(a.value.string_value for a in resource_spans.resource.attributes
                                       if a.key == "service.name")
                        for scope_spans in resource_spans.scope_spans:
                            collector.spans.extend((service, span) for span in scope_spans.spans)
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def trace(self, trace_id: bytes) -> list[tuple[str, Span]]:
        with self.lock:
            return [(service, span) for service, span in self.spans if span.trace_id == trace_id]


@pytest.fixture(scope="module")
def traced():
    collector = Collector()
    stack = Stack(metrics=True, env={"HAVEN_OTEL_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                       "OTEL_BSP_SCHEDULE_DELAY": "100", "HAVEN_LOG_FORMAT": "json"})
    try:
        stack.start()
        teacher = Api(stack.base_url).login(TEACHER)
        yield stack, collector, teacher
    finally:
        stack.stop()
        collector.server.shutdown()


# A trace a client claims to be part of: the gateway starts its own (a browser does not choose where its
# requests are filed, nor join them to someone else's trace).
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def record_concern(teacher):
    pupil = teacher.get("/api/v1/pupils", params={"q": ""}).json()[0]
    response = teacher.post("/api/v1/incidents", headers={"traceparent": f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"},
                            json={
        "pupil_id": pupil["id"], "occurred_at": ago(5), "account": "Said he is scared to go home.",
        "category_ids": [category(teacher, "Safeguarding")["id"]], "alert_user_ids": [], "alert_groups": ["dsl"]})
    assert response.status_code == 201, response.text
    return response


def json_lines(stack, name: str) -> list[dict]:
    """Every line `name` wrote, each of which must be a JSON object with the fields operators rely on."""
    lines = []
    for line in stack.log(name).splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)  # a line that is not JSON fails here, and says which
        assert {"time", "level", "process", "logger", "message", "request_id"} <= entry.keys(), line
        lines.append(entry)
    return lines


def test_one_request_is_one_request_id_and_one_trace_from_the_gateway_to_the_mail(traced):
    stack, collector, teacher = traced
    response = record_concern(teacher)
    request_id = response.headers["x-request-id"]
    incident_id = response.json()["id"]
    assert stack.mail.wait_for(lambda m: DSL in m[0] and f"/incidents/{incident_id}" in m[1])

    # The request id on the lines each process wrote about this request, and on no other request's lines.
    def lines_about_it():
        found = {name: [e for e in json_lines(stack, name) if e["request_id"] == request_id]
                 for name in ("gateway", "incidents", "alerts")}
        return found if all(found.values()) else None
    found = eventually(lines_about_it, timeout=15)
    assert any(e["logger"] == "haven.gateway.access" and e["message"].startswith("POST /api/v1/incidents 201")
               for e in found["gateway"]), found["gateway"]
    assert any("incidents.record_incident: ok" in e["message"] for e in found["incidents"]), found["incidents"]
    assert any("incident_recorded → alerts: ok" in e["message"] for e in found["alerts"]), found["alerts"]
    assert all(e["trace_id"] == found["gateway"][0]["trace_id"] for lines in found.values() for e in lines)

    # One trace: HTTP request → RPC call → the method → the event's handler, each the child of the last.
    trace_id = bytes.fromhex(found["gateway"][0]["trace_id"])
    assert trace_id != bytes.fromhex(CLIENT_TRACE)

    def the_whole_trace():
        spans = {(service, span.name): span for service, span in collector.trace(trace_id)}
        return spans if ("haven-alerts", "incidents.incident_recorded → alerts") in spans else None
    spans = eventually(the_whole_trace, timeout=15)
    root, = [(service, span) for service, span in collector.trace(trace_id) if not span.parent_span_id]
    assert (root[0], root[1].name) == ("haven-gateway", "POST /api/v1/incidents")
    http = root[1]
    call = spans[("haven-gateway", "incidents.record_incident")]
    method = spans[("haven-incidents", "incidents.record_incident")]
    handled = spans[("haven-alerts", "incidents.incident_recorded → alerts")]
    assert (http.kind, call.kind, method.kind, handled.kind) == (
        Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CONSUMER)
    # Each is the child of the one before; across the bus, and across the outbox and the bus.
    assert (call.parent_span_id, method.parent_span_id, handled.parent_span_id) == (
        http.span_id, call.span_id, method.span_id)
    # What a span says is its route or method, never what was written or whom it is about.
    attributes = {a.key: a.value for _service, span in collector.trace(trace_id) for a in span.attributes}
    assert attributes["http.route"].string_value == "/api/v1/incidents"
    assert not any("scared" in str(v) for v in attributes.values())
    # Nor does any span name a search's words (the query string is never recorded).
    searched = teacher.get("/api/v1/pupils", params={"q": "zqsearchword"})
    searched_trace = eventually(lambda: [span for span in collector.spans if span[1].name == "GET /api/v1/pupils"
                                         and span[1].end_time_unix_nano], timeout=15)
    assert searched.status_code == 200 and searched_trace
    assert "zqsearchword" not in repr(collector.spans)


def test_every_line_of_every_process_is_a_json_object(traced):
    stack, _collector, teacher = traced
    teacher.get("/api/v1/pupils", params={"q": "zz"})
    for name in PROCESSES:
        lines = json_lines(stack, name)
        assert lines, f"{name} wrote nothing"
        assert {e["process"] for e in lines} == {name}


def test_a_request_id_sent_by_a_client_is_not_taken(traced):
    stack, _collector, teacher = traced
    response = teacher.get("/api/v1/pupils", headers={"X-Request-ID": "mine-forged"})
    assert response.headers["x-request-id"] != "mine-forged"
    assert len(response.headers["x-request-id"]) == 32
    assert not any("forged" in line for line in stack.log("gateway").splitlines())


def sample(text: str, name: str, **labels) -> float:
    """One sample of a Prometheus text exposition, 0 when absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_every_process_serves_its_metrics_on_a_port_of_its_own_and_not_on_the_public_one(traced):
    stack, _collector, teacher = traced
    assert teacher.get("/metrics").status_code == 404  # the public port has no /metrics
    handled = {"service": "alerts", "event_type": "incident_recorded", "outcome": "ok"}
    before = {name: httpx.get(stack.metrics_urls[name]).text for name in ("incidents", "alerts")}
    assert teacher.get("/api/v1/pupils", params={"q": "zz"}).status_code == 200
    record_concern(teacher)

    def counted():
        scraped = {name: httpx.get(url).text for name, url in stack.metrics_urls.items()}
        searched = ("haven_rpc_duration_seconds_count", {"service": "incidents", "method": "search_pupils",
                                                         "outcome": "ok"})
        if sample(scraped["incidents"], searched[0], **searched[1]) <= sample(before["incidents"], searched[0],
                                                                               **searched[1]):
            return None
        if sample(scraped["alerts"], "haven_events_handled_total", **handled) <= sample(
                before["alerts"], "haven_events_handled_total", **handled):
            return None
        return scraped
    scraped = eventually(counted, timeout=15)
    gateway, incidents = scraped["gateway"], scraped["incidents"]
    assert sample(gateway, "haven_http_request_duration_seconds_count", method="GET", route="/api/v1/pupils",
                  status="200") >= 1
    assert sample(gateway, "haven_rpc_client_duration_seconds_count", service="incidents",
                  method="search_pupils", outcome="ok") >= 1
    assert "zz" not in gateway.replace("haven_", "")  # the search term is in no label
    assert all("haven_" in scraped[name] for name in PROCESSES)
    # The services' own gauges are there, read when scraped.
    assert sample(incidents, "haven_outbox_backlog", service="incidents") >= 0
    assert 'haven_outbox_backlog{service="gateway"}' in gateway  # the staff-directory events it relays
    assert 'haven_dead_letter_messages{queue="rpc-incidents.dead-letter"}' in incidents
    # The concern's event was published, and handled (above).
    assert sample(incidents, "haven_events_published_total", service="incidents",
                  event_type="incident_recorded") >= 1
