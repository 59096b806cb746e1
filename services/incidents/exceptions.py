"""Domain errors the incidents service raises; the gateway maps them to HTTP codes."""
from services.common.errors import Forbidden, NotFound, ValidationFailed  # noqa: F401
