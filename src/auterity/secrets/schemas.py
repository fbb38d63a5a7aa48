"""Request and response shapes of the secrets API."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, SecretStr

from auterity.core.schemas import ResponseModel, StrictModel
from auterity.secrets.service import MAX_VALUE_CHARS


class SecretWrite(StrictModel):
    # A secret is stored exactly as given: surrounding whitespace may be part of it.
    model_config = ConfigDict(str_strip_whitespace=False)

    # SecretStr: the value shows as '**********' in any repr, traceback or log of the body.
    value: SecretStr = Field(min_length=1, max_length=MAX_VALUE_CHARS)


class SecretWritten(ResponseModel):
    name: str
    version: int


class SecretValue(ResponseModel):
    name: str
    version: int
    value: str


class SecretSummary(ResponseModel):
    name: str
    version: int = Field(description="The current version.")
    created_at: datetime
    updated_at: datetime = Field(description="When the current version was written.")
    updated_by: str | None = Field(description="Who wrote the current version.")


class SecretList(ResponseModel):
    items: list[SecretSummary]
