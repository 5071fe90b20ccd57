"""The axis's exception hierarchy: each error has a machine code, a message and an HTTP status."""

from __future__ import annotations


class AxisError(Exception):
    """Base of every error the axis reports to a caller."""

    code = "axis_error"
    status = 400

    def __init__(self, message: str, *, where: str | None = None, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.details = details

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.where:
            body["where"] = self.where
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class ConfigError(AxisError):
    """A configuration variable has a bad value; start-up stops with one line naming it."""

    code = "bad_config"

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}", where=variable)
        self.variable = variable


class Unauthorized(AxisError):
    code = "unauthorized"
    status = 401


class Forbidden(AxisError):
    code = "forbidden"
    status = 403


class NotFound(AxisError):
    code = "not_found"
    status = 404


class Conflict(AxisError):
    code = "conflict"
    status = 409


class TooLarge(AxisError):
    code = "too_large"
    status = 413


class Unprocessable(AxisError):
    code = "unprocessable"
    status = 422


class BadRequest(AxisError):
    code = "bad_request"
    status = 400
