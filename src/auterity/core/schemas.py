"""Base classes for API shapes: request bodies refuse unknown fields so typos are reported."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    """A response body: built from ORM rows by attribute."""

    model_config = ConfigDict(from_attributes=True)
