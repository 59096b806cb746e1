"""The PDF engine every report goes through: a Jinja template filled with a record's data, turned into
a PDF by WeasyPrint with nothing fetched from anywhere.

Why so strict: a report is made from what staff typed, and pupils' names, accounts and file names are
exactly where someone could put `<img src="file:///etc/passwd">` or a link to a server of their own.
Two walls stand in the way. Every template is autoescaped, so typed text reaches WeasyPrint as text,
never as markup (and Jinja renders data, it never evaluates it). And WeasyPrint is handed a fetcher
that refuses every URL, so even markup a template itself carries (an image, a stylesheet, a font) loads
nothing: no file of this machine, no address on its network. Drawings are inline <svg>, the stylesheet
is a string, the font is the system's DejaVu; a report needs nothing from outside.

A refusal is counted (haven_report_fetches_refused_total, by scheme) and logged as one line naming the
scheme only: a URL could carry a name.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from importlib import resources

import jinja2
from prometheus_client import Counter
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher

from services.common.clock import SCHOOL_TIME

log = logging.getLogger(__name__)

FETCHES_REFUSED = Counter(
    "haven_report_fetches_refused_total",
    "URLs a report asked WeasyPrint for, all refused (a template that needs one is a bug; one from a "
    "record would be an attack that escaping failed to stop)", ["scheme"])
# Label values are bounded: a scheme is whatever a URL starts with, so the rest count as "other".
_COUNTED_SCHEMES = ("file", "http", "https", "data", "ftp")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9.+-]*):")

environment = jinja2.Environment(
    loader=jinja2.PackageLoader(__package__, "templates"),
    autoescape=True,  # every template, whatever its name ends with
    undefined=jinja2.StrictUndefined,  # a field the template expects and the record lacks is an error
    trim_blocks=True, lstrip_blocks=True,
)
_STYLESHEET = resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")


def _scheme(url: str) -> str:
    match = _SCHEME.match(url)
    scheme = match[1].lower() if match else ""
    return scheme if scheme in _COUNTED_SCHEMES else "other"


class RefusingFetcher(URLFetcher):
    """WeasyPrint's fetcher for reports: refuses every URL. WeasyPrint then leaves the image, stylesheet
    or font out and carries on, so the report is made without it."""

    def fetch(self, url, headers=None):
        scheme = _scheme(url)
        FETCHES_REFUSED.labels(scheme).inc()
        log.warning("a report asked for a %s URL: refused, reports fetch nothing", scheme)
        raise PermissionError("reports fetch nothing")


class _WithoutDocumentText(logging.Filter):
    """WeasyPrint's own log lines quote the document: the URL it failed to load, a stray piece of
    markup. In a report that could be a pupil's name, so its lines keep their wording and lose what
    they quote (and any traceback, whose messages quote it too)."""

    _PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[a-zA-Z]")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = self._PLACEHOLDER.sub("…", str(record.msg))
            record.args = None
        record.exc_info = record.exc_text = None
        return True


# WeasyPrint logs only through these loggers, and in a Haven process only reports use it.
for _name in ("weasyprint", "weasyprint.progress"):
    logging.getLogger(_name).addFilter(_WithoutDocumentText())


def stamp_time(when: datetime) -> str:
    """"3 March 2026, 14:05" at the school (a naive time is UTC, as the services keep it)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    when = when.astimezone(SCHOOL_TIME)
    return f"{when.day} {when:%B %Y, %H:%M}"


def when(value) -> str:
    """A service's ISO timestamp ("2026-03-03T14:05:00Z", UTC) as the school reads it; a calendar date
    ("2026-03-03") as "3 March 2026"; anything else as it came."""
    if not value:
        return ""
    text = str(value)
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d")
            return f"{day.day} {day:%B %Y}"
        return stamp_time(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text


environment.filters["when"] = when


def render_pdf(template: str, context: dict, *, produced_for: str, produced_at: datetime) -> bytes:
    """The PDF of `template` (a name in templates/) filled with `context`. Every page says whom it was
    produced for and when ("Confidential — produced for …"), and "Page N of M"."""
    html = environment.get_template(template).render(
        **context, produced_for=produced_for, produced_at=stamp_time(produced_at))
    fetcher = RefusingFetcher()
    return HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf(
        stylesheets=[CSS(string=_STYLESHEET, base_url=None, url_fetcher=fetcher)])
