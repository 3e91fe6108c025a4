"""One error family for everything the client side can refuse; each carries a machine-readable code."""

from __future__ import annotations


class RegistryError(Exception):
    """A refusal with a stable ``code``, a human ``message`` and a ``suggestion`` for the next step.

    ``status`` is the HTTP status the server answers with; the client sets it from the response.
    """

    code = "error"
    status = 400
    default_suggestion = ""

    def __init__(self, message: str, *, code: str | None = None, suggestion: str | None = None,
                 status: int | None = None, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.suggestion = suggestion if suggestion is not None else self.default_suggestion
        self.details = details or {}

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "suggestion": self.suggestion}
        if self.details:
            body["details"] = self.details
        return body

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class CanonicalizationError(RegistryError):
    """The bytes are not JSON we accept (duplicate keys, unsafe numbers, lone surrogates, too deep)."""

    code = "invalid_json"
    status = 422
    default_suggestion = "Send a plain I-JSON object: unique keys, integers within +/-(2**53-1), valid UTF-8."


class DocumentError(RegistryError):
    """The action document breaks the record contract."""

    code = "invalid_document"
    status = 422
    default_suggestion = "Fix the field named in the message and publish again; see GET /v1/openapi.json."


class SignatureError(RegistryError):
    """A signature, key or certificate did not check out. ``code`` names the reason."""

    code = "signature_invalid"
    status = 422
    default_suggestion = "Sign the canonical bytes of exactly this document with the key named by kid."


# --- raised by the HTTP client (action_registry.client) ------------------------------------------

class ClientError(RegistryError):
    """Something went wrong talking to a registry (base of the client's errors)."""

    code = "client_error"
    status = 0


class ApiError(ClientError):
    """The registry answered with an error body: ``code``, ``message``, ``suggestion`` come from it.

    ``status`` is the HTTP status; ``details`` is the server's optional structured context
    (e.g. ``{"versions": [...]}`` on ``version_not_found``).
    """

    code = "api_error"


class NotFoundError(ApiError):
    """404: no such action, version, key or hash."""


class AuthError(ApiError):
    """401/403: missing or invalid API key, or the key may not publish in that namespace."""


class ConflictError(ApiError):
    """409: e.g. the version exists with other bytes."""


class ServerError(ApiError):
    """5xx, still failing after the client's retries."""


class NetworkError(ClientError):
    """No answer at all: connection refused or reset, DNS failure, timeout (after the retries)."""

    code = "network_error"
    default_suggestion = "Check the registry URL (--registry or ACTION_REGISTRY_URL) and that it is up."


class InvalidResponseError(ClientError):
    """The registry answered, but not with what its API promises (not JSON, wrong shape)."""

    code = "invalid_response"
    default_suggestion = "Check that the URL points at an Action Registry (it serves /v1/openapi.json)."
