"""Routes `/api/scrape` and `/api/automate`: one browser job for the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from auterity.core.errors import ServiceUnavailable
from auterity.identity.deps import require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.integrations.browser.schemas import AutomateRequest, PageOutcome, ScrapeRequest
from auterity.integrations.browser.service import BrowserService, PageShot, encode_png

scrape = APIRouter(prefix="/api/scrape", tags=["browser"])
automate = APIRouter(prefix="/api/automate", tags=["browser"])

Runner = Annotated[Principal, require(Permission.WORKFLOW_RUN)]


async def get_browser(request: Request) -> BrowserService:
    service: BrowserService | None = getattr(request.app.state, "browser", None)
    if service is None:
        raise ServiceUnavailable("the browser runs with AutoMatrix; this process does not serve it")
    return service


Browser = Annotated[BrowserService, Depends(get_browser)]


def _answer(shot: PageShot) -> PageOutcome:
    if shot.png is None:
        return shot.outcome
    return shot.outcome.model_copy(update={"screenshot": encode_png(shot.png)})


@scrape.post("", response_model=PageOutcome, response_model_exclude_none=True)
async def scrape_page(body: ScrapeRequest, principal: Runner, browser: Browser) -> PageOutcome:
    """Load a page in a fresh browser context and read it: selectors, text, HTML, a screenshot
    (base64 PNG). Requests of the page to non-public addresses are refused unless allowed."""
    return _answer(await browser.scrape(principal.tenant_id, body))


@automate.post("", response_model=PageOutcome, response_model_exclude_none=True)
async def automate_page(body: AutomateRequest, principal: Runner, browser: Browser) -> PageOutcome:
    """Load a page and do a short list of steps (goto, click, fill, press, wait, extract)."""
    return _answer(await browser.automate(principal.tenant_id, body))
