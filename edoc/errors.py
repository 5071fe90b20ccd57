"""The one exception hierarchy of edoc: every refusal of a package is an EdocError with a machine
code, a human message, the element path it concerns and the line it was found on."""

from __future__ import annotations


class EdocError(Exception):
    """Base of everything edoc refuses. `str(err)` is the one line a person reads."""

    code = "edoc_error"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        line: int | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message
        self.where = where
        self.line = line
        if code is not None:
            self.code = code
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        """`where: message (line N)`, leaving out what is unknown."""
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.line is not None:
            text += f" (line {self.line})"
        return text

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.where:
            body["where"] = self.where
        if self.line is not None:
            body["line"] = self.line
        return body


class MalformedError(EdocError):
    """The bytes are not well-formed XML (or not text in a supported encoding)."""

    code = "malformed"


class InvalidError(EdocError):
    """Well-formed XML that breaks the edXML format: a required element missing, a bad date..."""

    code = "invalid"


class TooLargeError(EdocError):
    """A size, depth or element-count limit was passed; the reader stopped there."""

    code = "too_large"


class ForbiddenError(EdocError):
    """A construct the hardened reader never processes: DTD, entities, XInclude, stylesheet
    instructions, or the older e-doc.vn protocol's namespace."""

    code = "forbidden"


class FieldTooLongError(TooLargeError):
    """One text field is longer than its documented limit (`edoc.rules.FIELD_LIMITS`); `where`
    names the field."""

    code = "field_too_long"
