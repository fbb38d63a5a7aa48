"""Reading workflow documents from request bodies and files: JSON or YAML."""

from __future__ import annotations

import json
from typing import Any

import yaml
from fastapi import Request

from auterity.core.errors import BadRequest, UnsupportedMediaType

YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
JSON_TYPES = {"application/json"}


def parse_document(body: bytes, content_type: str | None) -> Any:
    kind = (content_type or "").split(";")[0].strip().lower()
    text = body.decode("utf-8", errors="replace")
    if kind in JSON_TYPES or kind.endswith("+json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequest(
                f"Malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
    if kind in YAML_TYPES:
        return parse_yaml(text)
    raise UnsupportedMediaType("Send the workflow as application/json or application/yaml.")


def parse_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadRequest(f"Malformed YAML{where}: {problem}") from None


async def request_document(request: Request) -> tuple[Any, str | None]:
    """The request's JSON or YAML document, and its text when it came as YAML (kept as written)."""
    body = await request.body()
    content_type = request.headers.get("content-type")
    document = parse_document(body, content_type)
    source = body.decode() if content_type and "yaml" in content_type else None
    return document, source
