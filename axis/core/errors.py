"""The axis's domain errors: each has a stable machine code, a message and where the problem is.

They carry no HTTP status: each adapter maps them through one table of its own (/v1 in
axis.adapters.api.HTTP_STATUS, the pages in axis.adapters.pages.views.PAGES, /vdxp in
axis.adapters.vdxp.api.VDXP_CODES), so a service called without HTTP (meetings/, the CLI) raises the same objects."""

from __future__ import annotations


class AxisError(Exception):
    """Base of every error the axis reports to a caller. `code` is the class's stable code unless
    a finer one is given (a package rule's own code, such as bad_base64)."""

    code = "axis_error"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        details: object = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.details = details
        if code is not None:
            self.code = code

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
    """The caller is not who it says (no or a bad token, a disabled agency)."""

    code = "unauthorized"


class Forbidden(AxisError):
    """The caller is known but may not do this."""

    code = "forbidden"


class NotFound(AxisError):
    """Nothing of that id that the caller may see (the same answer whether it exists or not)."""

    code = "not_found"


class Conflict(AxisError):
    """The request contradicts what is stored (same id, other content; a status out of order)."""

    code = "conflict"


class Gone(AxisError):
    """It existed and was withdrawn."""

    code = "gone"


class TooLarge(AxisError):
    code = "too_large"


class Unprocessable(AxisError):
    """Well-formed, but the axis cannot act on it (recipients it cannot deliver to)."""

    code = "unprocessable"


class BadRequest(AxisError):
    """The input is wrong: `where` names the element, field or parameter."""

    code = "bad_request"


class StoredBytesLost(AxisError):
    """A document the axis accepted cannot be read back from its blob store: the axis's own
    failure, never the caller's (every adapter answers it as a server error)."""

    code = "blob_unreadable"
