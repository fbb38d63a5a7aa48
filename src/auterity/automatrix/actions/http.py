"""The `http.request` action: one HTTP call through the platform's SSRF-guarded client.

Sends the step's idempotency key as `Idempotency-Key`, so a step retried after a crash is
recognised by a server that honours the key instead of being done twice.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, Field, field_validator, model_validator

from auterity.automatrix.actions.base import Action, ActionContext, ActionError, ActionInput
from auterity.automatrix.spec import parse_duration
from auterity.integrations.http import (
    AddressBlocked,
    FetchedResponse,
    InvalidOutboundRequest,
    OutboundNetworkError,
    OutboundTimeout,
    ResponseTooLarge,
    TooManyRedirects,
    display_url,
    retry_after_seconds,
)

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
EXCERPT_CHARS = 1000
_TEXT_TYPES = ("application/xml", "application/javascript", "application/x-www-form-urlencoded")
QueryScalar = str | int | float | bool | None


class BearerAuth(BaseModel):
    type: Literal["bearer"]
    token: str = Field(min_length=1, description="Usually `{{ secrets.NAME }}`.")


class BasicAuth(BaseModel):
    type: Literal["basic"]
    username: str
    password: str = Field(default="", description="Usually `{{ secrets.NAME }}`.")


class HttpRequestInput(ActionInput):
    method: str = Field(default="GET", description=f"One of {', '.join(METHODS)}.")
    url: str = Field(min_length=1, description="An absolute http:// or https:// URL.")
    headers: dict[str, str | int | float] = Field(default_factory=dict)
    query: dict[str, QueryScalar | list[QueryScalar]] = Field(
        default_factory=dict, description="Added to the URL's query; a list repeats the key."
    )
    json_: Any = Field(default=None, alias="json", description="Sent as application/json.")
    body: str | None = Field(default=None, description="Sent as it is (UTF-8).")
    auth: Annotated[BearerAuth | BasicAuth, Field(discriminator="type")] | None = None
    timeout: float | None = Field(
        default=None, description="Seconds (or '30s') for the whole exchange."
    )
    follow_redirects: bool = True
    max_response_bytes: int | None = Field(
        default=None, ge=1, description="Refuse a larger body (default: the platform limit)."
    )
    response_type: Literal["auto", "json", "text", "bytes"] = Field(
        default="auto",
        description="How to read the body; `bytes` gives base64, as does `auto` for binary.",
    )
    raise_for_status: bool = Field(
        default=True, description="Fail the step on a 4xx or 5xx answer."
    )

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        method = value.upper()
        if method not in METHODS:
            raise ValueError(f"{value!r} is not a method; use one of {', '.join(METHODS)}")
        return method

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/?#]", value, re.IGNORECASE):
            raise ValueError("must be an absolute http:// or https:// URL with a host")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str | int | float]) -> dict[str, str]:
        headers = {}
        for name, raw in value.items():
            text = str(raw)
            if not HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if any(char in text for char in "\r\n\0"):
                raise ValueError(f"the value of header {name!r} contains a line break or NUL")
            headers[name] = text
        return headers

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> float | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestInput:
        if {"json_", "body"} <= self.model_fields_set:
            raise ValueError(
                "give either `json` (sent as application/json) or `body` (sent as it is), not both"
            )
        if self.auth is not None and any(n.lower() == "authorization" for n in self.headers):
            raise ValueError("give either `auth` or an `Authorization` header, not both")
        return self


class HttpResponseOutput(BaseModel):
    status: int
    headers: dict[str, str] = Field(description="Lower-case names; repeated headers joined.")
    body: Any = Field(default=None, description="Parsed JSON, text, or base64 for bytes.")
    url: str = Field(description="The final URL, after redirects.")
    elapsed_ms: float


class HttpRequest(Action[HttpRequestInput, HttpResponseOutput]):
    name = "http.request"
    description = (
        "Calls an HTTP endpoint. Private, loopback and link-local addresses are refused "
        "unless the platform or the tenant's settings allow them; the body is parsed as JSON "
        "when it is JSON."
    )
    Input = HttpRequestInput
    Output = HttpResponseOutput
    idempotent = False
    idempotency = "sends Idempotency-Key header"
    reaches_outside = True

    async def run(self, ctx: ActionContext, params: HttpRequestInput) -> HttpResponseOutput:
        http = ctx.http
        if http is None:
            raise ActionError("outbound HTTP is not configured for this engine")
        limit = params.max_response_bytes
        if limit is not None and limit > http.max_response_bytes:
            raise ActionError(
                f"max_response_bytes may be at most {http.max_response_bytes}, the platform "
                "limit (AUTERITY_HTTP_MAX_RESPONSE_BYTES)",
                kind="client_error",
            )
        headers = _request_headers(ctx, params)
        content = None
        if "json_" in params.model_fields_set:
            content = json.dumps(params.json_, ensure_ascii=False).encode()
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        elif params.body is not None:
            content = params.body.encode()
        try:
            fetched = await http.request(
                params.method,
                params.url,
                headers=headers,
                params=params.query,
                content=content,
                timeout=params.timeout,
                follow_redirects=params.follow_redirects,
                max_response_bytes=limit,
                tenant_id=ctx.tenant_id,
            )
        except AddressBlocked as exc:
            details = {"host": exc.host, "address": exc.address, "reason": exc.reason}
            raise ActionError(exc.detail, kind="client_error", details=details) from None
        except (InvalidOutboundRequest, ResponseTooLarge, TooManyRedirects) as exc:
            raise ActionError(exc.detail, kind="client_error") from None
        except OutboundTimeout as exc:
            raise ActionError(exc.detail, kind="timeout") from None
        except OutboundNetworkError as exc:
            raise ActionError(exc.detail, kind="network") from None
        shown = display_url(fetched.url)
        hops = f" after {fetched.redirects} redirect(s)" if fetched.redirects else ""
        ctx.log(f"{params.method} {shown} -> {fetched.status} in {fetched.elapsed_ms:g} ms{hops}")
        if params.raise_for_status and fetched.status >= 400:
            raise _status_error(params.method, fetched)
        return HttpResponseOutput(
            status=fetched.status,
            headers=_response_headers(fetched.headers),
            body=_parse_body(fetched, params.response_type, params.method, ctx),
            url=fetched.url,
            elapsed_ms=fetched.elapsed_ms,
        )


def _request_headers(ctx: ActionContext, params: HttpRequestInput) -> dict[str, str]:
    headers = {name: str(value) for name, value in params.headers.items()}
    auth = params.auth
    if isinstance(auth, BearerAuth):
        headers["Authorization"] = f"Bearer {auth.token}"
    elif isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{auth.password}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
    if not any(name.lower() == "idempotency-key" for name in headers):
        headers["Idempotency-Key"] = ctx.idempotency_key
    return headers


def _response_headers(headers: httpx.Headers) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in headers.multi_items():
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


def _media_type(fetched: FetchedResponse) -> str:
    return str(fetched.headers.get("content-type", "")).split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _is_text(media_type: str) -> bool:
    return (
        media_type.startswith("text/") or media_type in _TEXT_TYPES or media_type.endswith("+xml")
    )


def _parse_body(
    fetched: FetchedResponse, response_type: str, method: str, ctx: ActionContext
) -> Any:
    if response_type == "bytes":
        return base64.b64encode(fetched.content).decode()
    if not fetched.content:
        return None
    media_type = _media_type(fetched)
    if response_type == "json" or (response_type == "auto" and _is_json(media_type)):
        try:
            return json.loads(fetched.content)
        except ValueError as exc:
            if response_type == "json":
                raise ActionError(
                    f"{method} {display_url(fetched.url)} answered {media_type or 'a body'} "
                    f"that is not JSON: {exc}",
                    details={"body": fetched.text()[:EXCERPT_CHARS]},
                ) from None
            ctx.log(f"the body is declared {media_type} but is not JSON; kept as text")
            return fetched.text()
    if response_type == "text" or _is_text(media_type) or fetched.charset:
        return fetched.text()
    try:
        return fetched.content.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(fetched.content).decode()


def _status_error(method: str, fetched: FetchedResponse) -> ActionError:
    status = fetched.status
    shown = display_url(fetched.url)
    details: dict[str, Any] = {"status": status, "url": shown}
    media_type = _media_type(fetched)
    if fetched.content and (_is_json(media_type) or _is_text(media_type) or fetched.charset):
        details["body"] = fetched.text()[:EXCERPT_CHARS]
    if status == 429:
        kind = "rate_limited"
    elif status >= 500:
        kind = "server_error"
    else:
        kind = "client_error"
    # RFC 9110 §10.2.3: how long a 429 or a 503 asks the client to wait; a retry waits at
    # least that long (up to the step's longest backoff).
    retry_after = None
    if status in (429, 503):
        retry_after = retry_after_seconds(fetched.headers.get("retry-after"))
    reason = httpx.codes.get_reason_phrase(status)
    return ActionError(
        f"{method} {shown} answered {status} {reason}".rstrip(),
        kind=kind,
        details=details,
        retry_after=retry_after,
    )
