"""Small real files of each kind the vault keeps (and some it refuses), made here rather than committed.

OLE2 files (.doc, .xls, .ppt, Outlook .msg) are written with extract-msg's OleWriter: olefile, which
Haven reads them with, cannot write them.
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from email.message import EmailMessage

from extract_msg.ole_writer import OleWriter

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00" \
      b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
TIFF = b"II*\x00\x08\x00\x00\x00" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run"
HTML = b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'
TEXT = "Mum rang at 9:15 to say Sam stayed with his nan.\r\nNo concerns raised.\n".encode()


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def zip_of(entries: dict[str, bytes], stored_first: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if stored_first:
            archive.writestr(zipfile.ZipInfo(stored_first), entries.pop(stored_first), zipfile.ZIP_STORED)
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def ooxml(part: str) -> bytes:
    """A Word ("word/"), Excel ("xl/") or PowerPoint ("ppt/") file: its content types and main part."""
    main = {"word/": "document.xml", "xl/": "workbook.xml", "ppt/": "presentation.xml"}[part]
    return zip_of({"[Content_Types].xml": b'<?xml version="1.0"?><Types/>', "_rels/.rels": b"<Relationships/>",
                   part + main: b"<document/>"})


def odf(kind: str) -> bytes:
    return zip_of({"mimetype": f"application/vnd.oasis.opendocument.{kind}".encode(),
                   "content.xml": b"<office:document-content/>"}, stored_first="mimetype")


def ole(streams: dict[str, bytes]) -> bytes:
    writer = OleWriter()
    for path, data in streams.items():
        if data is None:
            writer.addEntry(path, storage=True)
        else:
            writer.addEntry(path, data)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def doc() -> bytes:
    return ole({"WordDocument": b"\xec\xa5" + b"\x00" * 510, "1Table": b"\x00" * 512})


def xls() -> bytes:
    return ole({"Workbook": b"\x09\x08" + b"\x00" * 510})


def ppt() -> bytes:
    return ole({"PowerPoint Document": b"\x00" * 512, "Current User": b"\x00" * 64})


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _props(*entries: tuple[int, int, bytes], header: bytes = b"\x00" * 8) -> bytes:
    """A property stream: its header, then 16 bytes a property (type, id, flags, 8-byte value)."""
    return header + b"".join(struct.pack("<HHI8s", kind, prop, 2, value) for kind, prop, value in entries)


def msg(subject="Worry about Sam", body: str | None = "Sam said something at break.\r\nPlease call.",
        html: bytes | None = None, attachment=("photo.jpg", "image/jpeg", JPEG)) -> bytes:
    """An Outlook .msg: message class, subject, sender, one recipient, a sent date and one attachment."""
    counts = struct.pack("<4I", 1, int(bool(attachment)), 1, int(bool(attachment)))
    sent = struct.pack("<q", 133_500_000_000_000_000)  # a FILETIME in 2024
    flags = struct.pack("<q", 1)  # MSGFLAG_READ, and not unsent: Outlook shows its date
    streams = {
        "__properties_version1.0": _props((0x0040, 0x0039, sent), (0x0003, 0x0E07, flags),
                                          header=b"\x00" * 8 + counts + b"\x00" * 8),
        "__substg1.0_001A001F": _utf16("IPM.Note"),
        "__substg1.0_0037001F": _utf16(subject),
        "__substg1.0_0C1A001F": _utf16("Ms Parent"),
        "__substg1.0_5D01001F": _utf16("parent@home.example"),
        "__nameid_version1.0": None,
        "__nameid_version1.0/__substg1.0_00020102": b"",
        "__nameid_version1.0/__substg1.0_00030102": b"",
        "__nameid_version1.0/__substg1.0_00040102": b"",
        "__recip_version1.0_#00000000": None,
        "__recip_version1.0_#00000000/__properties_version1.0": _props((0x0003, 0x0C15, struct.pack("<q", 1))),
        "__recip_version1.0_#00000000/__substg1.0_3001001F": _utf16("DSL Team"),
        "__recip_version1.0_#00000000/__substg1.0_39FE001F": _utf16("dsl@school.example"),
    }
    if body is not None:
        streams["__substg1.0_1000001F"] = _utf16(body)
    if html is not None:
        streams["__substg1.0_10130102"] = html
    if attachment:
        name, content_type, data = attachment
        streams.update({
            "__attach_version1.0_#00000000": None,
            "__attach_version1.0_#00000000/__properties_version1.0": _props((0x0003, 0x3705, struct.pack("<q", 1))),
            "__attach_version1.0_#00000000/__substg1.0_3707001F": _utf16(name),
            "__attach_version1.0_#00000000/__substg1.0_370E001F": _utf16(content_type),
            "__attach_version1.0_#00000000/__substg1.0_37010102": data,
        })
    return ole(streams)


def eml(body="Sam said something at break.\nPlease call.", html: str | None = None,
        attachments=(("photo.jpg", JPEG),), **headers) -> bytes:
    message = EmailMessage()
    message["From"] = headers.get("from_", "Ms Parent <parent@home.example>")
    message["To"] = headers.get("to", "DSL Team <dsl@school.example>")
    message["Cc"] = headers.get("cc", "Head <head@school.example>")
    message["Date"] = headers.get("date", "Tue, 05 Mar 2024 08:30:00 +0000")
    message["Subject"] = headers.get("subject", "Worry about Sam")
    if body is not None:
        message.set_content(body)
    if html is not None:
        if body is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    for name, data in attachments:
        maintype, subtype = ("image", "jpeg") if name.endswith(".jpg") else ("application", "pdf")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(message)
