"""What both wire surfaces share: authentication, reading bodies, headers, error answers.

`/v1` routes answer errors in the body format of the SDK that calls them (OpenAI's, or
Anthropic's for `/v1/messages`) instead of the platform's RFC 9457 problems; the status and
the meaning stay the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from auterity.core.errors import AuterityError, BadRequest, Unauthenticated
from auterity.core.logging import get_logger
from auterity.core.request_context import current_request_id
from auterity.identity.context import IdentityContext
from auterity.identity.deps import resolve_principal
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.relaycore.costs import Usage, cost_micros, format_usd
from auterity.relaycore.gateway import RelayGateway
from auterity.relaycore.pipeline import Attribution, RelayContext
from auterity.relaycore.providers.base import ProviderError

log = get_logger(__name__)
ErrorWriter = Callable[[BaseException], tuple[int, dict[str, Any], dict[str, str]]]
ATTRIBUTION_HEADERS = ("x-auterity-workflow", "x-auterity-run", "x-auterity-step")
MAX_ATTRIBUTION = 200
# nginx's "client closed request": nobody reads it, but the metrics and access log show it.
CLIENT_CLOSED_REQUEST = 499


def gateway_of(request: Request) -> RelayGateway:
    gateway: RelayGateway = request.app.state.relay
    return gateway


async def authenticate(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer` or `x-api-key`; they must hold relay:use."""
    header = request.headers.get("authorization")
    token = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("Send the API key as `Authorization: Bearer <key>`.")
        token = value.strip()
    identity: IdentityContext = request.app.state.identity
    principal = await resolve_principal(request, token, identity)
    principal.require(Permission.RELAY_USE)
    return principal


def attribution(request: Request) -> Attribution:
    workflow, run, step = (
        (request.headers.get(name) or "")[:MAX_ATTRIBUTION] or None for name in ATTRIBUTION_HEADERS
    )
    return Attribution(workflow, run, step)


async def read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    return body


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def relay_headers(ctx: RelayContext | None, requested: str | None = None) -> dict[str, str]:
    """The x-auterity-* headers of an answer: which model and provider, the cost, and why."""
    deployment = ctx.deployment if ctx else None
    cost = ctx.cost_micros if ctx else 0
    if ctx and deployment and ctx.usage is None and ctx.needs:
        # A stream's headers leave before its completion exists: the prompt's cost is what
        # is known; usage accounting books the whole when the stream ends.
        cost = cost_micros(deployment.price, Usage(prompt_tokens=ctx.needs.prompt_tokens))
    headers = {
        "x-auterity-model": deployment.model if deployment else (requested or ""),
        "x-auterity-provider": deployment.provider if deployment else "",
        "x-auterity-cost-usd": format_usd(cost),
        "x-auterity-route": ctx.route_reason if ctx else "none",
    }
    if ctx is not None and ctx.headers:
        headers.update(ctx.headers)  # rate limit standing, cache hits
    request_id = current_request_id()
    if request_id:
        headers["x-request-id"] = request_id
    return headers


def error_response(
    error: BaseException, write: ErrorWriter, ctx: RelayContext | None, requested: str | None
) -> Response:
    if isinstance(error, ClientDisconnect):
        # The client gave up before its body arrived (a timeout under load): not our error,
        # and a traceback per request would add to the load that made it give up.
        log.info("relay_client_disconnected")
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    status, body, extra = write(error)
    if not isinstance(error, AuterityError | ProviderError):
        log.error("relay_unexpected_error", error=repr(error), exc_info=error)
    elif status >= 500:
        log.warning(
            "relay_request_failed",
            error=type(error).__name__,
            status=status,
            attempts=ctx.attempts if ctx else None,
        )
    headers = relay_headers(ctx, requested)
    # One spelling per header: `Retry-After` from the error and `retry-after` would both go out.
    headers.update((name.lower(), value) for name, value in extra.items())
    for name, value in getattr(error, "headers", {}).items():
        headers.setdefault(name.lower(), value)
    return Response(dumps(body), status_code=status, media_type="application/json", headers=headers)
