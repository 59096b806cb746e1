"""What a file is, by its content: each kind Haven keeps, and disguised, damaged, empty and unknown files."""
from __future__ import annotations

import struct
import zipfile

import pytest

from services.common.errors import ValidationFailed
from services.documents import filetypes
from services.documents.filetypes import ACCEPTED, detect

from . import samples

OOXML = "application/vnd.openxmlformats-officedocument."


def refusal(content: bytes, filename: str, claimed: str | None = None) -> str:
    with pytest.raises(ValidationFailed) as caught:
        detect(content, filename, claimed)
    (error,) = caught.value.errors
    assert error["field"] == "file"
    return error["message"]


@pytest.mark.parametrize("content, filename, claimed, kind, content_type", [
    (samples.PDF, "GP letter.pdf", "application/pdf", "pdf", "application/pdf"),
    (samples.JPEG, "bruise.JPG", "image/jpeg", "jpeg", "image/jpeg"),
    (samples.JPEG, "bruise.jpeg", "image/pjpeg", "jpeg", "image/jpeg"),
    (samples.png(), "screenshot.png", "image/png", "png", "image/png"),
    (samples.GIF, "drawing.gif", "image/gif", "gif", "image/gif"),
    (samples.WEBP, "photo.webp", "image/webp", "webp", "image/webp"),
    (samples.HEIC, "IMG_0001.HEIC", "", "heic", "image/heic"),
    (samples.TIFF, "scan.tiff", "image/tiff", "tiff", "image/tiff"),
    (samples.ooxml("word/"), "referral.docx", OOXML + "wordprocessingml.document", "docx",
     OOXML + "wordprocessingml.document"),
    (samples.ooxml("xl/"), "attendance.xlsx", None, "xlsx", OOXML + "spreadsheetml.sheet"),
    (samples.ooxml("ppt/"), "training.pptx", None, "pptx", OOXML + "presentationml.presentation"),
    (samples.odf("text"), "minutes.odt", None, "odt", "application/vnd.oasis.opendocument.text"),
    (samples.odf("spreadsheet"), "plan.ods", None, "ods", "application/vnd.oasis.opendocument.spreadsheet"),
    (samples.doc(), "old referral.doc", "application/msword", "doc", "application/msword"),
    (samples.xls(), "old register.xls", "application/vnd.ms-excel", "xls", "application/vnd.ms-excel"),
    (samples.ppt(), "old training.ppt", None, "ppt", "application/vnd.ms-powerpoint"),
    (samples.msg(), "from mum.msg", "application/vnd.ms-outlook", "msg", "application/vnd.ms-outlook"),
    (samples.eml(), "from mum.eml", "message/rfc822", "eml", "message/rfc822"),
    (samples.TEXT, "phone note.txt", "text/plain", "text", "text/plain"),
    ("Sam ♥ £5 für Zoë\n".encode("utf-8-sig"), "note.txt", "text/plain", "text", "text/plain"),
    ("Sam ♥ £5\r\n".encode("utf-16"), "note.txt", "text/plain", "text", "text/plain"),
    # Excel on Windows claims .csv files as its own.
    (b"upn,name\nA123,Sam\n", "roll.csv", "application/vnd.ms-excel", "text", "text/csv"),
    # An e-mail saved as .txt is plain text too.
    (samples.eml(), "from mum.txt", "text/plain", "text", "text/plain"),
])
def test_each_kind_haven_keeps_is_recognised_by_its_content(content, filename, claimed, kind, content_type):
    detected = detect(content, filename, claimed)
    assert (detected.kind, detected.content_type) == (kind, content_type)
    assert detected.extension == "." + filename.rpartition(".")[2].lower()


@pytest.mark.parametrize("claimed", [None, "", "application/octet-stream", "application/x-unheard-of"])
def test_a_claim_browsers_send_when_they_do_not_know_is_not_held_against_the_file(claimed):
    assert detect(samples.PDF, "letter.pdf", claimed).content_type == "application/pdf"


@pytest.mark.parametrize("filename", ["document", "minutes v1.2", "scan_"])
def test_a_name_without_an_extension_gets_the_detected_one(filename):
    assert detect(samples.PDF, filename, None).extension == ".pdf"
    assert detect(samples.ooxml("word/"), filename, None).extension == ".docx"


def test_a_windows_program_named_pdf_is_refused_saying_what_it_is_and_what_haven_keeps():
    assert refusal(samples.EXE, "letter.pdf", "application/pdf") == (
        "This file is a Windows program, not a PDF. Haven keeps PDFs, pictures (JPEG, PNG, GIF, WebP, HEIC, "
        "TIFF), Word, Excel and PowerPoint documents (and their OpenDocument equivalents), plain text and "
        "e-mails (.eml, .msg).")


@pytest.mark.parametrize("content, filename, found", [
    (samples.HTML, "note.txt", "This file is a web page (HTML), not plain text."),
    (b"\n  <html><body>hi</body></html>", "note.txt", "This file is a web page (HTML), not plain text."),
    (samples.SVG, "drawing.png", "This file is an SVG drawing, not a PNG picture."),
    (samples.SVG, "drawing.svg", "This file is an SVG drawing."),
    (b'<?xml version="1.0"?><svg/>', "x.txt", "This file is an XML file, not plain text."),
    (samples.zip_of({"photos/1.jpg": samples.JPEG}), "referral.docx",
     "This file is a ZIP archive, not a Word document. Unpack it"),
    (samples.zip_of({"[Content_Types].xml": b"<Types/>", "visio/document.xml": b"<x/>"}), "plan.docx",
     "This file is an Office file of a kind Haven does not keep, not a Word document."),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 60, "photo.jpg", "This file is a Linux program, not a JPEG picture."),
    (b"#!/bin/sh\nrm -rf ~\n", "notes.txt", "This file is a script, not plain text."),
    (b"Rar!\x1a\x07\x01\x00" + b"\x00" * 40, "letters.pdf", "This file is a RAR archive, not a PDF."),
    (b"\x1f\x8b\x08\x00" + b"\x00" * 40, "letters", "This file is a compressed (gzip) archive."),
    (b"{\\rtf1\\ansi Hello}", "letter.rtf", "This file is a Rich Text document. Save it as a Word document"),
    (b"\x00\x00\x00\x18ftypisom" + b"\x00" * 40, "clip.jpg", "This file is a video or sound recording"),
    (b"\x00\x00\x00\x18ftypavif" + b"\x00" * 40, "photo.jpg", "This file is an AVIF picture"),
    (b"\x00\x01\x02\x03 binary \xfe\xff", "data.pdf", "Haven could not tell what kind of file this is "
                                                      "(it is not a PDF)."),
    ("£5 for the trip".encode("latin-1"), "note.txt", "Haven could not tell what kind of file this is"),
    (b"A note\x00with a NUL", "note.txt", "Haven could not tell what kind of file this is"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2000, "referral.doc",
     "This file is damaged or incomplete, not a Word 97-2003 document. Choose the file again"),
    (samples.ooxml("word/")[:-30], "referral.docx", "This file is damaged or incomplete, not a Word document."),
    (samples.ole({"EncryptionInfo": b"\x00" * 64, "EncryptedPackage": b"\x00" * 64}), "secret.docx",
     "This file is a document protected by a password, which Haven cannot check, not a Word document. "
     "Save a copy without the password"),
    (samples.ole({"SummaryInformation": b"\x00" * 64}), "thing.doc",
     "This file is an Office file of a kind Haven does not keep"),
])
def test_content_haven_does_not_keep_is_refused_saying_what_it_is(content, filename, found):
    message = refusal(content, filename)
    assert message.startswith(found) and message.endswith(ACCEPTED)


@pytest.mark.parametrize("content, filename, claimed, message", [
    (samples.PDF, "photo.png", "image/png", "The name says a PNG picture (.png) but the file is a PDF. "
                                            "Rename it to end in .pdf, or choose the right file."),
    (samples.PDF, "letter.pdf", "image/png", "The file was sent as a PNG picture but it is a PDF. "
                                             "Choose the file again, or save it in the right format."),
    (samples.PDF, "letter.pdf", "text/html", "The file was sent as a web page but it is a PDF."),
    (samples.JPEG, "photo.exe", None, "The name says a Windows program (.exe) but the file is a JPEG picture."),
    (samples.PDF, "report.final", None, "The name says a kind of file Haven does not keep (.final) but the file "
                                        "is a PDF."),
    # .doc and .docx are different formats: the name must say which.
    (samples.ooxml("word/"), "referral.doc", None, "The name says a Word 97-2003 document (.doc) but the file is "
                                                   "a Word document. Rename it to end in .docx"),
    (samples.doc(), "referral.docx", None, "The name says a Word document (.docx) but the file is a Word "
                                           "97-2003 document."),
    (samples.msg(), "mail.eml", None, "The name says an e-mail (.eml) but the file is an Outlook e-mail."),
    (samples.TEXT, "letter.pdf", "application/pdf", "The name says a PDF (.pdf) but the file is plain text."),
    (samples.JPEG, "photo.png", "image/png", "The name says a PNG picture (.png) but the file is a JPEG picture."),
])
def test_a_name_or_claim_that_disagrees_with_the_content_is_refused(content, filename, claimed, message):
    assert refusal(content, filename, claimed).startswith(message)


def test_an_empty_file_is_refused():
    assert refusal(b"", "letter.pdf", "application/pdf") == "The file is empty. Choose the file to attach."


def test_a_zip_is_judged_by_its_directory_without_unpacking_anything(monkeypatch):
    # A "zip bomb" document: 50 MB of zeros inside. Nothing of it may be decompressed to judge it.
    bomb = samples.zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"\x00" * (50 << 20)})
    assert len(bomb) < 100_000

    def no_unpacking(*args, **kwargs):
        raise AssertionError("a ZIP entry was decompressed")
    monkeypatch.setattr(zipfile.ZipFile, "open", no_unpacking)
    assert detect(bomb, "referral.docx", None).kind == "docx"


def test_a_zip_whose_directory_is_implausibly_large_is_refused_before_it_is_read(monkeypatch):
    huge = filetypes.MAX_ZIP_DIRECTORY_BYTES + 1
    content = b"PK\x03\x04" + b"\x00" * 100 + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 65535, 65535, huge, 4, 0)
    monkeypatch.setattr(zipfile, "ZipFile", None)  # the directory must not even be parsed
    assert refusal(content, "referral.docx").startswith("This file is a ZIP archive, not a Word document.")


def test_text_is_checked_to_the_end_not_just_its_beginning(monkeypatch):
    monkeypatch.setattr(filetypes, "_TEXT_CHUNK", 64)
    clean = b"All fine here. " * 20
    assert detect(clean, "note.txt", None).kind == "text"
    refusal(clean + b"\x00\x01 then binary", "note.txt")
    # A character split across two chunks is still text.
    assert detect(b"a" * 63 + "é is fine".encode(), "note.txt", None).kind == "text"


@pytest.mark.parametrize("given, kept", [("letter.PDF", "pdf"), ("minutes v1.2", ""), ("archive.tar.gz", "gz"),
                                         (".pdf", ""), ("notes", ""), ("a.toolongext", "")])
def test_extension_of(given, kept):
    assert filetypes.extension_of(given) == kept
