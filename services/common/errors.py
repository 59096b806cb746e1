"""Domain errors. Services raise these; Nameko carries them across the bus by `exc_path`; the
gateway turns them back into these types and answers with `status_code`."""
from __future__ import annotations


class HavenError(Exception):
    status_code = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *details):
        super().__init__(message or self.default_message, *details)

    @property
    def message(self) -> str:
        return self.args[0]


class NotFound(HavenError):
    status_code = 404
    default_message = "Not found."


class Forbidden(HavenError):
    status_code = 403
    default_message = "You do not have permission to do that."


class Unauthenticated(HavenError):
    status_code = 401
    default_message = "The request did not carry a valid signed actor context."


class StepUpRequired(Unauthenticated):
    """Reading this record needs a second factor given recently: the reader confirms it (a step-up
    prompt, not a second sign-in) and tries again."""

    default_message = "Confirm it is you: give your second factor again to read this safeguarding record."


class Conflict(HavenError):
    status_code = 409
    default_message = "That conflicts with the current state of the record."


class ValidationFailed(HavenError):
    """Bad input. `errors` is a list of {"field", "message"} a form can show next to each field."""

    status_code = 422
    default_message = "Some fields need correcting."

    def __init__(self, errors: list[dict] | None = None, message: str | None = None):
        super().__init__(message or self.default_message, list(errors or []))

    @property
    def errors(self) -> list[dict]:
        return self.args[1] if len(self.args) > 1 else []

    @classmethod
    def one(cls, field: str, message: str) -> "ValidationFailed":
        return cls([{"field": field, "message": message}])


class ServiceUnavailable(HavenError):
    """A service Haven needs did not answer; `service` names it."""

    status_code = 503
    default_message = "A part of Haven is not running. Please try again in a minute."

    def __init__(self, message: str | None = None, service: str | None = None):
        super().__init__(message, service)

    @property
    def service(self) -> str | None:
        return self.args[1] if len(self.args) > 1 else None


class ServiceTimeout(ServiceUnavailable):
    status_code = 504
    default_message = "A part of Haven took too long to answer. Nothing was changed; please try again."


ALL_ERRORS = {cls.__name__: cls for cls in (HavenError, NotFound, Forbidden, Unauthenticated, StepUpRequired, Conflict,
                                            ValidationFailed, ServiceUnavailable, ServiceTimeout)}


def error_from_remote(exc_type: str, exc_args: list) -> HavenError | None:
    """Rebuild a domain error from Nameko's serialised form; None when it is not one of ours."""
    cls = ALL_ERRORS.get(exc_type)
    if cls is None:
        return None
    err = cls.__new__(cls)
    Exception.__init__(err, *(exc_args or [cls.default_message]))
    return err


class IntegrityFailed(HavenError):
    """Stored bytes do not match what was stored: never hand them out."""

    status_code = 500
    default_message = "The stored file failed its integrity check; it has not been returned."


ALL_ERRORS["IntegrityFailed"] = IntegrityFailed
