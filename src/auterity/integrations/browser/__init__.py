"""The browser integration: scraping and short automations in a shared, guarded Chromium."""

from auterity.integrations.browser.errors import (
    BrowserError,
    BrowserUnavailable,
    PageFailed,
    PageTimeout,
    StepFailed,
)
from auterity.integrations.browser.schemas import AutomateRequest, PageOutcome, ScrapeRequest
from auterity.integrations.browser.service import BrowserService, PageShot, encode_png

__all__ = [
    "AutomateRequest",
    "BrowserError",
    "BrowserService",
    "BrowserUnavailable",
    "PageFailed",
    "PageOutcome",
    "PageShot",
    "PageTimeout",
    "ScrapeRequest",
    "StepFailed",
    "encode_png",
]
