"""`browser.scrape` and `browser.automate`: thin actions over the platform's browser service.

The page loads in a fresh context of the shared Chromium; every request it makes passes the
SSRF guard (with the tenant's allow-list). A screenshot is stored as an artifact and the step
output keeps its reference.
"""

from __future__ import annotations

from typing import Any

from auterity.automatrix.actions.base import Action, ActionContext, ActionError
from auterity.core.errors import AuterityError
from auterity.core.outbound import AddressBlocked
from auterity.integrations.browser import (
    AutomateRequest,
    BrowserService,
    BrowserUnavailable,
    PageFailed,
    PageOutcome,
    PageShot,
    PageTimeout,
    ScrapeRequest,
)


class BrowserScrape(Action[ScrapeRequest, PageOutcome]):
    name = "browser.scrape"
    description = (
        "Loads a page in a headless browser (JavaScript runs) and reads it: selectors, "
        "text, HTML, a screenshot. Requests to non-public addresses are refused unless allowed."
    )
    Input = ScrapeRequest
    Output = PageOutcome
    idempotent = True
    idempotency = "not needed: loading a page to read it changes nothing"
    reaches_outside = True

    async def run(self, ctx: ActionContext, params: ScrapeRequest) -> PageOutcome:
        browser = _browser(ctx)
        try:
            shot = await browser.scrape(ctx.tenant_id, params)
        except AuterityError as exc:
            raise action_error(exc) from None
        return await _stored(ctx, shot)


class BrowserAutomate(Action[AutomateRequest, PageOutcome]):
    name = "browser.automate"
    description = (
        "Loads a page and does a short list of steps on it: goto, click, fill, press, wait, "
        "extract (into `data`)."
    )
    Input = AutomateRequest
    Output = PageOutcome
    # A click may submit a form, and a page takes no idempotency key.
    idempotent = False
    idempotency = "none: steps that submit a form may be done again on a retry"
    reaches_outside = True

    async def run(self, ctx: ActionContext, params: AutomateRequest) -> PageOutcome:
        browser = _browser(ctx)
        try:
            shot = await browser.automate(ctx.tenant_id, params)
        except AuterityError as exc:
            raise action_error(exc) from None
        return await _stored(ctx, shot)


def _browser(ctx: ActionContext) -> BrowserService:
    if ctx.browser is None:
        raise ActionError("no browser is configured for this engine", kind="client_error")
    return ctx.browser


async def _stored(ctx: ActionContext, shot: PageShot) -> PageOutcome:
    outcome = shot.outcome
    ctx.log(
        f"{outcome.url} -> {outcome.status} in {outcome.elapsed_ms:g} ms, "
        f"{outcome.requests} request(s), {len(outcome.blocked)} blocked"
    )
    if shot.png is None:
        return outcome
    if ctx.artifacts is None:
        raise ActionError("no artifact store to keep the screenshot in", kind="client_error")
    reference = await ctx.artifacts.put_bytes(
        ctx.tenant_id, shot.png, media_type="image/png", extension="png"
    )
    return outcome.model_copy(update={"screenshot": reference})


def action_error(exc: AuterityError) -> ActionError:
    details: dict[str, Any] = {}
    if isinstance(exc, AddressBlocked):
        kind = "client_error"
        details = {"host": exc.host, "address": exc.address, "reason": exc.reason}
    elif isinstance(exc, PageTimeout):
        kind = "timeout"
    elif isinstance(exc, PageFailed | BrowserUnavailable):
        kind = "network"
    elif exc.status >= 500:
        kind = "upstream_error"
    else:
        kind = "client_error"
    return ActionError(exc.detail, kind=kind, details=details or None)
