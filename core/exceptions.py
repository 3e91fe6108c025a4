"""Domain errors of the server: each is a ``RegistryError`` with a code and the HTTP status it maps to."""

from action_registry.errors import RegistryError


class DomainError(RegistryError):
    code = "bad_request"
    status = 400


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401
    default_suggestion = "Send `Authorization: Bearer <api key>`; create one with `manage.py create_api_key`."


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Unprocessable(DomainError):
    code = "unprocessable"
    status = 422
