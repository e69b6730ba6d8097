"""Shapes every Soda Cloud endpoint shares: the error body, the credentials check, checked ids."""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_provider_soda.exceptions import SodaCloudValidationError

#: No Soda Cloud id is anywhere near this long; longer input is refused before any request.
MAX_ID_LENGTH = 512


def normalise_id(value: Any, name: str, *, hint: str = "") -> str:
    """Check an id before it goes into a URL path or a query; blanks around it are dropped.

    The id is later percent-encoded as one path segment, so it can never address another path.
    Ids that no encoding can protect (``.`` and ``..``, which clients and proxies collapse) and
    ids that cannot be real (empty, control characters, absurdly long) are refused here.
    ``name`` is the argument's name in the message; ``hint`` says where the id usually comes from.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise SodaCloudValidationError(f"{name} must be a string, got {type(value).__name__}: {value!r}.")
    cleaned = value.strip()
    if not cleaned:
        raise SodaCloudValidationError(f"{name} is empty.{' ' + hint if hint else ''}")
    if cleaned in (".", ".."):
        raise SodaCloudValidationError(
            f"{name} {cleaned!r} is not a valid {name.removesuffix('_id').replace('_', ' ')} id."
        )
    if any(unicodedata.category(char) == "Cc" for char in cleaned):
        raise SodaCloudValidationError(f"{name} {cleaned!r} contains control characters.")
    if len(cleaned) > MAX_ID_LENGTH:
        raise SodaCloudValidationError(
            f"{name} is {len(cleaned)} characters long; Soda Cloud ids are far shorter "
            f"(at most {MAX_ID_LENGTH} accepted)."
        )
    return cleaned


class ErrorBody(BaseModel):
    """``ErrorResponse``: Soda's error ``code`` and ``message``, both optional."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    code: str | None = None
    message: str | None = None

    @classmethod
    def parse(cls, text: str) -> ErrorBody:
        """Soda's error from a response body; empty when the body is not an ``ErrorResponse`` (a proxy page)."""
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            return cls()


class TestLogin(BaseModel):
    """Answer of ``GET /api/v1/test-login``."""

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    organisation_name: str | None = Field(default=None, alias="organisationName")
