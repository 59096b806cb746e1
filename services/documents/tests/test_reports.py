"""The report engine and the single-incident PDF: what the PDF says (its text, read back with pypdf),
the stamp and page numbers on every page, and that nothing typed into a record becomes markup or makes
WeasyPrint fetch anything.

The incident is built with the incidents contract's own models, so a change to the contract that the
report does not follow breaks these tests.
"""
from __future__ import annotations

import io
import logging
import re
from datetime import datetime, timezone

import jinja2
import pytest
from prometheus_client import REGISTRY
from pypdf import PdfReader

from services.common.contracts.incidents import (ActionView, AmendmentView, CategoryView, DecisionView,
                                                 IncidentView, MarkView, OutcomeView, Person, PupilSummary)
from services.documents.reports import render
from services.documents.reports.incident import incident_pdf

PRODUCED_AT = datetime(2026, 3, 3, 14, 5, tzinfo=timezone.utc)  # 14:05 at the school too (GMT in March)
STAMP = "Confidential — produced for Dora Lead on 3 March 2026, 14:05"

PAYLOADS = [
    '<img src="file:///etc/passwd">',
    "<script>alert(1)</script>",
    '<link rel=stylesheet href="http://127.0.0.1:1/x.css">',
    "<style>@import url(http://127.0.0.1:1/y)</style>",
    '<div style="background:url(file:///etc/hostname)">',
    '<link rel="attachment" href="file:///etc/passwd">',
    "{{ 7*7 }}",
]
ALL_PAYLOADS = " ".join(PAYLOADS)


# --- building an incident as the incidents service answers it ---------------------------------------

def incident(**changes) -> dict:
    fields = dict(
        id=42, pupil=PupilSummary(id=7, name="Amelia Pond", year_group="8", form="8R"), pupil_id=7,
        occurred_at="2026-03-02T09:30:00Z", recorded_at="2026-03-02T10:15:00Z",
        recorded_by=Person(id=3, name="Rory Williams"), record_type="observation",
        record_type_label="Observation", location="The playground",
        account="At morning break Amelia said her arm hurt.\nShe showed me a bruise above the elbow.",
        childs_words="It was an accident.", others_present=None, urgent=True,
        categories=[CategoryView(id=1, name="Physical abuse", sensitivity="safeguarding")],
        linked_pupils=[{"pupil": {"id": 9, "name": "Clara Oswald", "year_group": "8", "form": "8R",
                                  "initials": "C.O."}, "role": "witness", "role_label": "Witness"}],
        body_map=[MarkView(id=1, side="front", x=0.3, y=0.3, mark_type="bruise", mark_type_label="Bruise",
                           colour="purple", shape="oval", size="3 cm", description="Above the left elbow")],
        amendments=[AmendmentView(id=5, field="location", field_label="Where", new_value="The dining hall",
                                  reason="I misremembered where we were", author=Person(id=3, name="Rory Williams"),
                                  created_at="2026-03-02T11:00:00Z")],
        current={"location": "The dining hall"}, shows_original=True, restricted=False, shared=False,
    )
    fields.update(changes)
    return IncidentView(**fields).model_dump()


def action(**changes) -> dict:
    fields = dict(id=11, incident_id=42, description="Spoke to Amelia's mother at pick-up",
                  taken_at="2026-03-02T15:30:00Z", assigned_to=None, due_on=None,
                  created_by=Person(id=4, name="Dora Lead"), completed=True,
                  completed_at="2026-03-02T15:45:00Z", completion_note="Mother says she fell at home")
    fields.update(changes)
    return ActionView(**fields).model_dump()


def decision(**changes) -> dict:
    fields = dict(id=12, incident_id=42, decision_type="early_help", decision_type_label="Early help",
                  reason="Family agreed to an early help assessment", agency=None, reference="EH-2026-17",
                  decided_at="2026-03-03T09:00:00Z", decided_by={"id": 4, "name": "Dora Lead"})
    fields.update(changes)
    return DecisionView(**fields).model_dump()


def outcome(**changes) -> dict:
    fields = dict(id=13, incident_id=42, outcome_type="monitoring", outcome_type_label="Monitoring",
                  note="Check in weekly with her form tutor", recorded_at="2026-03-03T09:10:00Z",
                  recorded_by={"id": 4, "name": "Dora Lead"})
    fields.update(changes)
    return OutcomeView(**fields).model_dump()


# --- reading a PDF back -----------------------------------------------------------------------------

def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def squashed(text: str) -> str:
    """Text without white space: where a line wrapped is no business of these tests."""
    return re.sub(r"\s+", "", text)


def refused(scheme: str) -> float:
    return REGISTRY.get_sample_value("haven_report_fetches_refused_total", {"scheme": scheme}) or 0.0


def all_refused() -> float:
    return sum(refused(s) for s in ("file", "http", "https", "data", "ftp", "other"))


def report(incident_dict: dict, **follow_up) -> bytes:
    return incident_pdf(incident_dict, "Dora Lead", PRODUCED_AT, **follow_up)


# --- the tests --------------------------------------------------------------------------------------

def test_the_report_holds_the_record_and_its_follow_up():
    pdf = report(incident(), actions=[action()], decisions=[decision()], outcomes=[outcome()])
    text = squashed(" ".join(pages_text(pdf)))
    for expected in ("Amelia Pond", "Rory Williams", "Physical abuse", "2 March 2026, 09:30",
                     "She showed me a bruise above the elbow.", "It was an accident.", "Clara Oswald", "Witness",
                     "Above the left elbow", "colour: purple",
                     # the correction: the record reads as corrected, says why, and keeps what it replaced
                     "The dining hall", "I misremembered where we were", "As first recorded", "The playground",
                     "Spoke to Amelia's mother at pick-up", "Mother says she fell at home",
                     "Early help", "EH-2026-17", "Family agreed to an early help assessment",
                     "Monitoring", "Check in weekly with her form tutor"):
        assert squashed(expected) in text, expected

    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata.title == "Incident record 42"  # the pupil's name stays out of the metadata
    top = reader.outline
    assert top[0].title == "Incident record 42"
    assert [b.title for b in top[1]] == ["The record", "Account", "The child's own words", "Linked pupils",
                                         "Body map", "Corrections", "As first recorded", "Actions", "Decisions",
                                         "Outcomes"]


def test_follow_up_left_out_is_not_shown_and_none_recorded_says_so():
    shared = report(incident(shared=True, shows_original=False, body_map=[], linked_pupils=[], amendments=[],
                             current={}))
    text = " ".join(pages_text(shared))
    assert "Actions" not in text and "Decisions" not in text and "Body map" not in text
    assert "Shared with an alerted member of staff" in text

    empty = " ".join(pages_text(report(incident(), actions=[], decisions=[], outcomes=[])))
    assert empty.count("None recorded.") == 3


def test_every_page_is_stamped_and_numbered():
    long_account = "\n".join(f"Paragraph {n}: what was seen and said, written out in full as the policy asks."
                             for n in range(1, 301))
    pages = pages_text(report(incident(account=long_account)))
    assert len(pages) >= 3
    for number, text in enumerate(pages, start=1):
        assert STAMP in text
        assert f"Page {number} of {len(pages)}" in text
    first, last = (next(n for n, text in enumerate(pages) if f"Paragraph {p}:" in text) for p in (1, 300))
    assert last > first  # the account itself runs over pages


def test_what_staff_typed_stays_text_and_fetches_nothing():
    before = all_refused()
    tagged = incident(
        pupil=PupilSummary(id=7, name="Amelia " + PAYLOADS[0], year_group="8", form="8R"),
        account=ALL_PAYLOADS, childs_words=PAYLOADS[3], location=PAYLOADS[4], others_present=PAYLOADS[2],
        recorded_by=Person(id=3, name="Rory " + PAYLOADS[1]),
        categories=[CategoryView(id=1, name="Abuse " + PAYLOADS[6], sensitivity="safeguarding")],
        body_map=[MarkView(id=1, side="back", x=0.5, y=0.4, mark_type="cut", mark_type_label="Cut",
                           description=PAYLOADS[5], colour=PAYLOADS[0])],
        amendments=[AmendmentView(id=5, field="account", field_label="Account", new_value=ALL_PAYLOADS,
                                  reason=PAYLOADS[2], author=Person(id=3, name=PAYLOADS[4]),
                                  created_at="2026-03-02T11:00:00Z")],
        current={"account": ALL_PAYLOADS})
    pdf = incident_pdf(tagged, "Dora " + PAYLOADS[3], PRODUCED_AT,
                       actions=[action(description=ALL_PAYLOADS)], decisions=[decision(reason=PAYLOADS[1])],
                       outcomes=[outcome(note=PAYLOADS[0])])

    text = squashed(" ".join(pages_text(pdf)))
    for payload in PAYLOADS:
        assert squashed(payload) in text, payload  # shown as typed: not markup, not evaluated by Jinja
    assert "root:x:0:0" not in text
    assert all_refused() == before  # escaped text is never a URL: nothing was even asked for
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.attachments == {}
    assert all(not page.images for page in reader.pages)


@pytest.fixture
def fetching_template(monkeypatch):
    """A template (ours, not a record's data) that asks for files and addresses, the way a careless
    template change would."""
    source = ('{% extends "base.html" %}{% block title %}Fetching{% endblock %}{% block content %}'
              '<p>Before the requests.</p>'
              '<img src="file:///etc/passwd">'
              '<link rel="attachment" href="file:///etc/passwd">'
              '<link rel="stylesheet" href="http://127.0.0.1:1/x.css">'
              '<div style="background: url(https://127.0.0.1:1/z.png); height: 1cm">box</div>'
              '<p>After the requests.</p>{% endblock %}')
    environment = render.environment
    monkeypatch.setattr(environment, "loader",
                        jinja2.ChoiceLoader([jinja2.DictLoader({"fetching.html": source}), environment.loader]))
    return "fetching.html"


def test_the_fetcher_refuses_every_url_a_template_asks_for(fetching_template, caplog):
    before = {scheme: refused(scheme) for scheme in ("file", "http", "https")}
    with caplog.at_level(logging.DEBUG):
        pdf = render.render_pdf(fetching_template, {}, produced_for="Dora Lead", produced_at=PRODUCED_AT)

    # Each request was refused and counted by scheme: the image and the attachment, the stylesheet, the
    # background (WeasyPrint's own fetcher would have attached /etc/passwd to the PDF).
    assert refused("file") - before["file"] == 2
    assert refused("http") - before["http"] == 1
    assert refused("https") - before["https"] == 1
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.attachments == {}
    assert all(not page.images for page in reader.pages)
    text = " ".join(pages_text(pdf))
    assert "Before the requests." in text and "After the requests." in text and STAMP in text
    assert "root:x:0:0" not in text

    # Logged by scheme, never the URL (WeasyPrint's own lines lose what they quote).
    refusals = [r.getMessage() for r in caplog.records if r.name == render.__name__]
    assert sorted(refusals) == sorted(f"a report asked for a {s} URL: refused, reports fetch nothing"
                                      for s in ("file", "file", "http", "https"))
    assert "passwd" not in caplog.text and "127.0.0.1" not in caplog.text
