"""Domain errors the documents service raises; the gateway maps them to HTTP codes."""
from services.common.errors import (  # noqa: F401
    Forbidden,
    HavenError,
    IntegrityFailed,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)


class IncidentsUnavailable(HavenError):
    """The incidents service did not answer the permission check, so nothing was stored or shown."""

    status_code = 503
    default_message = "Haven could not check your permission for that incident just now. Please try again."
