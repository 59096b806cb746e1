"""What a file is, decided by its content: the name and the browser's claim only have to agree with it.

A school's vault must not become a way to pass a program or a web page to a colleague: a file named
"letter.pdf" opens in whatever the content says it is, not what the name says. So the kind is read
from the first bytes (and, for ZIP and OLE2 containers, from their directory), and the name and the
claimed type must then name the same kind. The stored content type is always the detected one.

Work stays bounded whatever is uploaded: a ZIP is judged by its central directory alone (nothing is
decompressed, so a ZIP bomb costs nothing) and refused if that directory is implausibly large; text
is checked a chunk at a time.
"""
from __future__ import annotations

import codecs
import io
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser

import olefile

from .exceptions import ValidationFailed

MAX_FILENAME_CHARS = 255
# Characters Windows refuses in a name, or that break a Content-Disposition header.
_UNSAFE_IN_NAME = re.compile(r'[<>:"|?*;]')
# Control, format (e.g. right-to-left override, used to disguise ".exe"), surrogate, line breaks.
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}

ACCEPTED = ("Haven keeps PDFs, pictures (JPEG, PNG, GIF, WebP, HEIC, TIFF), Word, Excel and PowerPoint "
            "documents (and their OpenDocument equivalents), plain text and e-mails (.eml, .msg).")


@dataclass(frozen=True)
class Kind:
    label: str                 # what a secretary calls it: "a PDF", "a Word document"
    content_type: str
    extensions: tuple[str, ...]  # the first is the one added to a name without any
    claims: frozenset[str]       # what browsers send for it, content_type included


def _kind(label, content_type, extensions, *claims) -> Kind:
    return Kind(label, content_type, tuple(extensions.split()), frozenset((content_type, *claims)))


_OOXML = "application/vnd.openxmlformats-officedocument."
_ODF = "application/vnd.oasis.opendocument."
KINDS = {
    "pdf": _kind("a PDF", "application/pdf", "pdf", "application/x-pdf"),
    "jpeg": _kind("a JPEG picture", "image/jpeg", "jpg jpeg jpe jfif", "image/pjpeg"),
    "png": _kind("a PNG picture", "image/png", "png", "image/x-png"),
    "gif": _kind("a GIF picture", "image/gif", "gif"),
    "webp": _kind("a WebP picture", "image/webp", "webp"),
    "heic": _kind("an HEIC picture (an iPhone photo)", "image/heic", "heic heif",
                  "image/heif", "image/heic-sequence", "image/heif-sequence"),
    "tiff": _kind("a TIFF picture", "image/tiff", "tif tiff"),
    "docx": _kind("a Word document", _OOXML + "wordprocessingml.document", "docx"),
    "xlsx": _kind("an Excel spreadsheet", _OOXML + "spreadsheetml.sheet", "xlsx"),
    "pptx": _kind("a PowerPoint presentation", _OOXML + "presentationml.presentation", "pptx"),
    "odt": _kind("an OpenDocument text", _ODF + "text", "odt"),
    "ods": _kind("an OpenDocument spreadsheet", _ODF + "spreadsheet", "ods"),
    "odp": _kind("an OpenDocument presentation", _ODF + "presentation", "odp"),
    "doc": _kind("a Word 97-2003 document", "application/msword", "doc"),
    "xls": _kind("an Excel 97-2003 spreadsheet", "application/vnd.ms-excel", "xls"),
    "ppt": _kind("a PowerPoint 97-2003 presentation", "application/vnd.ms-powerpoint", "ppt"),
    "msg": _kind("an Outlook e-mail", "application/vnd.ms-outlook", "msg"),
    "eml": _kind("an e-mail", "message/rfc822", "eml", "text/plain"),
    # Excel on Windows registers itself for .csv, so browsers there send its type for CSV files.
    "text": _kind("plain text", "text/plain", "txt text csv log",
                  "text/csv", "application/csv", "text/x-csv", "application/vnd.ms-excel"),
}
_BY_EXTENSION = {extension: name for name, kind in KINDS.items() for extension in kind.extensions}
_CSV = "text/csv"

# Claims for kinds Haven refuses, so a PDF sent as one of them is caught too.
_REFUSED_CLAIMS = {
    "text/html": "a web page", "application/xhtml+xml": "a web page", "image/svg+xml": "an SVG drawing",
    "application/javascript": "a script", "text/javascript": "a script",
    "application/x-msdownload": "a Windows program", "application/x-msdos-program": "a Windows program",
    "application/x-executable": "a program", "application/zip": "a ZIP archive",
    "application/x-zip-compressed": "a ZIP archive",
}
# Extensions of kinds Haven refuses, named so the message can say what the name claims.
_REFUSED_EXTENSIONS = {
    "exe": "a Windows program", "dll": "a Windows program", "scr": "a Windows program",
    "msi": "a Windows installer", "bat": "a script", "cmd": "a script", "js": "a script",
    "vbs": "a script", "ps1": "a script", "sh": "a script", "html": "a web page", "htm": "a web page",
    "svg": "an SVG drawing", "zip": "a ZIP archive", "rar": "a RAR archive", "7z": "a 7-Zip archive",
    "rtf": "a Rich Text document",
}


@dataclass(frozen=True)
class Detected:
    kind: str
    content_type: str
    extension: str  # with its dot: ".pdf"


class _Refused(Exception):
    """The content is a kind Haven does not keep: `found` says which (None: not one Haven recognises)."""

    def __init__(self, found: str | None, advice: str = ""):
        super().__init__(found)
        self.found, self.advice = found, advice


def clean_filename(name) -> str:
    """The last path part of `name`, without anything unsafe to show or save; "" if nothing is left."""
    if not isinstance(name, str):
        return ""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _INVISIBLE)
    name = _UNSAFE_IN_NAME.sub("_", name).strip(" .")
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 16:
            name = stem[:MAX_FILENAME_CHARS - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip(" .")
    return name


def extension_of(filename: str) -> str:
    """The name's extension, lower case, without the dot; "" when the name has none.

    "minutes v1.2" has none: an extension has a letter in it.
    """
    stem, dot, extension = filename.rpartition(".")
    if dot and stem and re.fullmatch(r"[A-Za-z0-9]{1,5}", extension) and re.search("[A-Za-z]", extension):
        return extension.lower()
    return ""


def detect(content: bytes, filename: str, claimed: str | None) -> Detected:
    """What `content` is, once the name and the claimed type agree with it; else ValidationFailed("file")."""
    if not content:
        raise _refusal("The file is empty. Choose the file to attach.")
    extension = extension_of(filename)
    claim = (claimed or "").split(";", 1)[0].strip().lower()
    try:
        kind = _sniff(content)
    except _Refused as refused:
        named = _named(extension, claim)
        if refused.found is None:
            what = "Haven could not tell what kind of file this is"
            what += f" (it is not {named})" if named else ""
        elif named in (None, refused.found):
            what = f"This file is {refused.found}"
        else:
            what = f"This file is {refused.found}, not {named}"
        raise _refusal(f"{what}. {refused.advice}{ACCEPTED}") from None

    # An e-mail saved as .txt is plain text too, and is kept as that.
    if kind == "eml" and _BY_EXTENSION.get(extension) == "text" and _is_text(content):
        kind = "text"
    found = KINDS[kind]
    if extension and extension not in found.extensions:
        what = _extension_label(extension)
        raise _refusal(f"The name says {what} (.{extension}) but the file is {found.label}. "
                       f"Rename it to end in .{found.extensions[0]}, or choose the right file.")
    # A claim Haven does not know (application/octet-stream, most often) says nothing either way.
    if claim and _claim_label(claim) and claim not in found.claims:
        raise _refusal(f"The file was sent as {_claim_label(claim)} but it is {found.label}. "
                       "Choose the file again, or save it in the right format.")
    content_type = _CSV if kind == "text" and extension == "csv" else found.content_type
    return Detected(kind, content_type, "." + (extension or found.extensions[0]))


def _refusal(message: str) -> ValidationFailed:
    return ValidationFailed.one("file", message)


def _extension_label(extension: str) -> str:
    if extension in _BY_EXTENSION:
        return KINDS[_BY_EXTENSION[extension]].label
    return _REFUSED_EXTENSIONS.get(extension, "a kind of file Haven does not keep")


def _claim_label(claim: str) -> str | None:
    """What a claimed type names, or None when it is one Haven does not know (and so cannot judge)."""
    kinds = sorted(KINDS.values(), key=lambda kind: kind.content_type != claim)  # its own kind first
    for kind in kinds:
        if claim in kind.claims:
            return kind.label
    return _REFUSED_CLAIMS.get(claim)


def _named(extension: str, claim: str) -> str | None:
    """What the upload says it is, for a refusal's message: the name first, then the claim."""
    if extension:
        return _extension_label(extension)
    return _claim_label(claim) if claim else None


# --- what the bytes are ---------------------------------------------------------------------------------

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_ARCHIVES = ((b"Rar!\x1a\x07", "a RAR archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
             (b"\x1f\x8b", "a compressed (gzip) archive"), (b"BZh", "a compressed (bzip2) archive"),
             (b"\xfd7zXZ\x00", "a compressed (xz) archive"))
_PROGRAMS = ((b"MZ", "a Windows program"), (b"\x7fELF", "a Linux program"),
             (b"\xcf\xfa\xed\xfe", "a Mac program"), (b"\xce\xfa\xed\xfe", "a Mac program"),
             (b"\xca\xfe\xba\xbe", "a program"), (b"#!", "a script"))
_MEDIA = (b"ID3", b"OggS", b"fLaC", b"\x1aE\xdf\xa3")
_UNPACK = "Unpack it and attach the documents inside one by one. "
_SAVE_AS_PDF = "Save it as a PDF and attach that. "
_CHOOSE_AGAIN = "Choose the file again, or open it and save a new copy. "


def _sniff(content: bytes) -> str:
    """The name of the kind in KINDS, or _Refused saying what the content is instead."""
    head = content[:64]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp":
        if head[8:12] in _HEIC_BRANDS:
            return "heic"
        if head[8:12] in (b"avif", b"avis"):
            raise _Refused("an AVIF picture", "Save it as a JPEG or PNG picture and attach that. ")
        raise _Refused("a video or sound recording")
    if head[:4] == b"RIFF" or head.startswith(_MEDIA):
        raise _Refused("a video or sound recording")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(content)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _ole_kind(content)
    for magic, label in _PROGRAMS:
        if head.startswith(magic):
            raise _Refused(label)
    for magic, label in _ARCHIVES:
        if head.startswith(magic):
            raise _Refused(label, _UNPACK)
    if content[257:262] == b"ustar":
        raise _Refused("a tar archive", _UNPACK)
    if head.startswith(b"{\\rtf"):
        raise _Refused("a Rich Text document", "Save it as a Word document or a PDF and attach that. ")
    markup = _markup(content)
    if markup:
        raise _Refused(markup, _SAVE_AS_PDF)
    if _is_email(content):
        return "eml"
    if _is_text(content):
        return "text"
    raise _Refused(None)


# A real Office file lists tens or hundreds of parts; a directory this large is a trap, not a document.
MAX_ZIP_DIRECTORY_BYTES = 2 * 1024 * 1024
_END_OF_DIRECTORY = b"PK\x05\x06"


def _zip_kind(content: bytes) -> str:
    # The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
    end = content.rfind(_END_OF_DIRECTORY, max(0, len(content) - 65_557))
    if end < 0 or end + 22 > len(content):
        raise _Refused("damaged or incomplete", _CHOOSE_AGAIN)
    directory_size = struct.unpack_from("<I", content, end + 12)[0]
    if directory_size > MAX_ZIP_DIRECTORY_BYTES:
        raise _Refused("a ZIP archive", _UNPACK)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            odf = _odf_kind(archive) if "mimetype" in names else None
    except (zipfile.BadZipFile, ValueError, NotImplementedError, EOFError, OSError, struct.error):
        raise _Refused("damaged or incomplete", _CHOOSE_AGAIN) from None
    if odf:
        return odf
    if "[Content_Types].xml" in names:
        for prefix, kind in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
            if any(name.startswith(prefix) for name in names):
                return kind
        raise _Refused("an Office file of a kind Haven does not keep", _SAVE_AS_PDF)
    raise _Refused("a ZIP archive", _UNPACK)


_ODF_TYPES = {_ODF + "text": "odt", _ODF + "spreadsheet": "ods", _ODF + "presentation": "odp"}


def _odf_kind(archive: zipfile.ZipFile) -> str | None:
    """OpenDocument names its type in a tiny uncompressed first entry, "mimetype"."""
    info = archive.getinfo("mimetype")
    if info.compress_type != zipfile.ZIP_STORED or info.file_size > 100:
        return None
    return _ODF_TYPES.get(archive.read(info).decode("ascii", "replace").strip())


def _ole_kind(content: bytes) -> str:
    """Legacy Office files and Outlook's .msg share one container (OLE2); its streams say which it is."""
    try:
        # Always a file object: olefile takes bytes shorter than 1536 for a path to open.
        with olefile.OleFileIO(io.BytesIO(content)) as ole:
            names = {entry[0] for entry in ole.listdir(streams=True, storages=True)}
    except Exception:  # olefile raises many kinds of error on a damaged file; all mean the same here
        raise _Refused("damaged or incomplete", _CHOOSE_AGAIN) from None
    if "EncryptedPackage" in names:
        raise _Refused("a document protected by a password, which Haven cannot check",
                       "Save a copy without the password and attach that. ")
    if "WordDocument" in names:
        return "doc"
    if names & {"Workbook", "Book"}:
        return "xls"
    if "PowerPoint Document" in names:
        return "ppt"
    if "__properties_version1.0" in names and any(n.startswith("__substg1.0_") for n in names):
        return "msg"
    raise _Refused("an Office file of a kind Haven does not keep", _SAVE_AS_PDF)


# Web pages and SVG drawings can run scripts when opened: they are refused even when named .txt.
_MARKUP = re.compile(
    r"<(?:(!doctype\s+html|html|head|body|script|iframe|style|title|div|table|h1|font|br|p|a|b)[\s>/]"
    r"|(svg)[\s>/]|(\?xml)|!--)", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _encoding(content: bytes) -> tuple[str, int]:
    """The text encoding its byte-order mark names (UTF-8 if none), and the mark's length."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return encoding, len(bom)
    return "utf-8", 0


def _markup(content: bytes) -> str | None:
    encoding, skip = _encoding(content)
    start = content[skip:skip + 2048].decode(encoding, "replace").lstrip()
    match = _MARKUP.match(start)
    if not match:
        return None
    if match.group(2):
        return "an SVG drawing"
    if match.group(3):
        return "an XML file"
    return "a web page (HTML)"


def _is_email(content: bytes) -> bool:
    """An e-mail (.eml) begins with its headers: From, and a Date, Subject or To."""
    head = content[:64 * 1024]
    if b"\x00" in head or not re.match(rb"(From |[!-9;-~]+:)", head):
        return False
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
    except Exception:  # a header the parser cannot make sense of: not an e-mail we can show
        return False
    return "From" in headers and any(name in headers for name in ("Date", "Subject", "To"))


# Tab, line feed, form feed and carriage return are the only control characters plain text needs.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_TEXT_CHUNK = 1024 * 1024


def _is_text(content: bytes) -> bool:
    """UTF-8 (or UTF-16 with a byte-order mark) without control characters; checked a chunk at a time."""
    encoding, skip = _encoding(content)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        for start in range(skip, len(content), _TEXT_CHUNK):
            chunk = content[start:start + _TEXT_CHUNK]
            if _CONTROL.search(decoder.decode(chunk, final=start + _TEXT_CHUNK >= len(content))):
                return False
    except UnicodeDecodeError:
        return False
    return True
