"""What logging, metrics and the request id cost per recorded concern, measured piece by piece.

    .venv/bin/python bench/telemetry_cost.py [--n 20000]

bench/record_path.py measures the whole record path with and without them (against the previous commit),
but on a shared 2-core machine its run-to-run noise is larger than what is measured here. This times each
piece a recorded concern goes through, in one process, with the same handler and formatter the processes
use (written to /dev/null rather than a terminal or a collector):

- a JSON log line (telemetry.JsonFormatter) inside a request, and the text format beside it;
- a histogram observation with labels (prometheus-client);
- the request id and span of one handled message (telemetry.Handling, tracing off as by default), and the
  headers an outgoing message carries (telemetry.outgoing);
and adds them up for one concern: in the gateway one access line, one HTTP observation and, per RPC, one
client observation and outgoing headers; in each service per message handled one Handling, one line and
one observation.

Prints microseconds per piece and per concern; asserts nothing.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from services.common import metrics, telemetry  # noqa: E402

# bench/record_path.py's POST /api/v1/incidents: one RPC (incidents.record_incident) and one event handled
# (incident_recorded, by alerts), as the request id's lines in a run show.
RPCS_PER_CONCERN = 1
EVENTS_PER_CONCERN = 1


def per_call(fn, n: int) -> float:
    """Microseconds per call, the best of three runs of n."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n)
    return best * 1e6


def logger_to_devnull(formatter: logging.Formatter) -> logging.Logger:
    handler = logging.StreamHandler(open(os.devnull, "w"))
    handler.setFormatter(formatter)
    log = logging.getLogger(f"bench.{type(formatter).__name__}")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args().n

    json_log = logger_to_devnull(telemetry.JsonFormatter("gateway"))
    text_log = logger_to_devnull(telemetry.TextFormatter("gateway"))
    histogram = metrics.RPC_SECONDS.labels("bench", "record_incident", "ok")

    with telemetry.bound("0123456789abcdef0123456789abcdef"):
        json_line = per_call(lambda: json_log.info("%s %s %d %.1f ms", "POST", "/api/v1/incidents", 201, 12.3), n)
        text_line = per_call(lambda: text_log.info("%s %s %d %.1f ms", "POST", "/api/v1/incidents", 201, 12.3), n)
        outgoing = per_call(telemetry.outgoing, n)
    observe = per_call(lambda: histogram.observe(0.012), n)
    labelled = per_call(lambda: metrics.RPC_SECONDS.labels("bench", "record_incident", "ok").observe(0.012), n)
    data = {telemetry.REQUEST_ID_HEADER: "0123456789abcdef0123456789abcdef"}
    handling = per_call(lambda: telemetry.Handling("incidents.record_incident", telemetry.SpanKind.SERVER,
                                                   dict(data), {}).close(), n)

    gateway = json_line + labelled + RPCS_PER_CONCERN * (labelled + outgoing)
    services = (RPCS_PER_CONCERN + EVENTS_PER_CONCERN) * (handling + json_line + labelled)
    print(f"per piece, µs (best of 3 × {n}):")
    print(f"  JSON log line            {json_line:7.1f}   (text format: {text_line:.1f})")
    print(f"  histogram observe        {observe:7.1f}   (with .labels() lookup: {labelled:.1f})")
    print(f"  outgoing headers         {outgoing:7.1f}")
    print(f"  handled message (span + request id, tracing off) {handling:.1f}")
    print(f"per recorded concern ({RPCS_PER_CONCERN} RPCs, {EVENTS_PER_CONCERN} events): gateway {gateway:.0f} µs, "
          f"services {services:.0f} µs, in all {gateway + services:.0f} µs of CPU")


if __name__ == "__main__":
    main()
