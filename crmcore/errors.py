"""The one exception hierarchy of the CRM; the API maps each class to its HTTP status."""
from __future__ import annotations

from typing import Any, cast


class CRMError(Exception):
    """Root of every error the CRM raises on purpose."""

    status: int = 500
    code: str = "error"

    def __init__(self, message: Any = "", *, errors: dict[str, Any] | None = None) -> None:
        # ``message`` may be a lazy translation: it becomes text in the reader's language when shown.
        self._message = message if message is not None and str(message) else (self.__class__.__doc__ or self.code).strip()
        self._errors = errors or {}
        super().__init__(self._message)

    @property
    def errors(self) -> dict[str, Any]:
        """``{field: [messages]}`` as text in the current language."""
        return cast("dict[str, Any]", as_text(self._errors))

    @property
    def message(self) -> str:
        return str(self._message)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.status, "status": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


def as_text(value: Any) -> Any:
    """Lazy translations inside nested dicts and lists, turned into text."""
    if isinstance(value, dict):
        return {str(k): as_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_text(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class ValidationError(CRMError):
    """The input is not valid."""

    status = 422
    code = "validation_error"


class BadRequest(CRMError):
    """The request is malformed (a cursor or header this API did not give out)."""

    status = 400
    code = "bad_request"


class NotFound(CRMError):
    """No such record."""

    status = 404
    code = "not_found"


class AuthenticationRequired(CRMError):
    """Authentication is required."""

    status = 401
    code = "unauthenticated"


class PermissionDenied(CRMError):
    """You do not have permission to do this."""

    status = 403
    code = "forbidden"


class Conflict(CRMError):
    """The record was changed by someone else; reload it and try again."""

    status = 409
    code = "conflict"


class TooManyRequests(CRMError):
    """Too many requests; wait and try again."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: Any = "", *, retry_after: int = 1, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message, errors=errors)
        self.retry_after = max(int(retry_after), 1)


class PreconditionFailed(CRMError):
    """The If-Match precondition does not match the current version."""

    status = 412
    code = "precondition_failed"


class PluginError(CRMError):
    """A plugin could not be loaded or is misconfigured."""

    status = 500
    code = "plugin_error"


class ConfigError(CRMError):
    """The configuration is not valid."""

    status = 500
    code = "config_error"


class AdapterError(CRMError):
    """An external system (ERP, OA) failed."""

    status = 502
    code = "adapter_error"


class FatalAdapterError(AdapterError):
    """The external system refused in a way a retry will not fix."""


class RetriableAdapterError(AdapterError):
    """The external system failed in a way a later retry may fix."""

    status = 503


class JobCancelled(CRMError):
    """The job was cancelled; it stops between two chunks of work."""

    status = 409
    code = "job_cancelled"
