"""Report PDFs: how long WeasyPrint takes, for a long incident report and a one-page one.

    .venv/bin/python bench/report_speed.py [--paragraphs 400] [--runs 5]

Renders through the report engine (`reports.incident.incident_pdf`; the documents service does not
call it yet: issue 11's queue is still to come), in this process, with no database or broker: a long incident (an account of --paragraphs paragraphs, a body
map, corrections and follow-up) and a one-page incident. The first render of each (fonts loaded,
stylesheet parsed) is timed apart as the warm-up. Prints, for each PDF, its pages, the median seconds
over --runs renders, and seconds per page. Upload throughput (issue 11's second figure) is not measured
here yet.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from datetime import datetime, timezone

from pypdf import PdfReader

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from services.common.contracts.incidents import (ActionView, AmendmentView, CategoryView,  # noqa: E402
                                                 IncidentView, MarkView, Person, PupilSummary)
from services.documents.reports.incident import incident_pdf  # noqa: E402

RECORDER, DSL = Person(id=3, name="Rory Williams"), Person(id=4, name="Dora Lead")


def sample_incident(paragraphs: int) -> dict:
    account = "\n".join(f"{n}. At break the pupil came to me and said that things at home were hard again; I "
                        "wrote down what she said in her own words and what I saw." for n in range(1, paragraphs + 1))
    marks = [MarkView(id=n, side=side, x=0.5, y=0.2 + 0.1 * n, mark_type="bruise", mark_type_label="Bruise",
                      colour="yellow", size="2 cm", description="Fading bruise")
             for n, side in enumerate(("front", "back", "front"), start=1)]
    return IncidentView(
        id=1, pupil=PupilSummary(id=1, name="Amelia Pond", year_group="8", form="8R"), pupil_id=1,
        occurred_at="2026-03-02T09:30:00Z", recorded_at="2026-03-02T10:15:00Z", recorded_by=RECORDER,
        record_type="disclosure", record_type_label="Disclosure or conversation with the child", account=account,
        urgent=True, categories=[CategoryView(id=1, name="Neglect", sensitivity="safeguarding")], linked_pupils=[],
        body_map=marks if paragraphs > 1 else [],
        amendments=[AmendmentView(id=1, field="location", field_label="Where", new_value="The library",
                                  reason="Wrong room", author=RECORDER, created_at="2026-03-02T11:00:00Z")],
        current={"location": "The library"}, shows_original=True,
    ).model_dump()


def actions(count: int) -> list[dict]:
    return [ActionView(id=n, incident_id=1, description="Phoned the pupil's mother", taken_at="2026-03-02T15:00:00Z",
                       created_by=DSL, completed=False).model_dump() for n in range(count)]


def measure(incident: dict, follow_up: list[dict], runs: int) -> tuple[int, float, float]:
    """(pages, warm-up seconds, median seconds)"""
    def once() -> tuple[bytes, float]:
        start = time.perf_counter()
        pdf = incident_pdf(incident, "Dora Lead", datetime.now(timezone.utc), actions=follow_up)
        return pdf, time.perf_counter() - start

    pdf, warm_up = once()
    times = [once()[1] for _ in range(runs)]
    return len(PdfReader(io.BytesIO(pdf)).pages), warm_up, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    for what, incident, follow_up in (
            (f"incident report, {args.paragraphs}-paragraph account", sample_incident(args.paragraphs), actions(20)),
            ("one-page incident report", sample_incident(1), [])):
        pages, warm_up, median = measure(incident, follow_up, args.runs)
        print(f"{what}: {pages} page{'s' if pages != 1 else ''}, {median:.3f} s median of {args.runs} "
              f"({median / pages:.3f} s per page; first render {warm_up:.3f} s)")


if __name__ == "__main__":
    main()
