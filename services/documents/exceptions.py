"""Domain errors the documents service raises; the gateway maps them to HTTP codes."""
from services.common.errors import (  # noqa: F401
    Forbidden,
    HavenError,
    IntegrityFailed,
    NotFound,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)


def incidents_unavailable() -> ServiceUnavailable:
    """The incidents service did not answer the permission check, so nothing was stored or shown."""
    return ServiceUnavailable("Haven could not check your permission for that incident just now. "
                              "Please try again.", "incidents")
