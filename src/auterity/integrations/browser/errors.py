"""Why a browser job did not give a page, grouped by what the caller can do about it.

A page refused by the SSRF guard raises core's `AddressBlocked` itself; these cover the rest.
"""

from __future__ import annotations

from auterity.core.errors import (
    AuterityError,
    ProviderUnavailable,
    ServiceUnavailable,
    ValidationFailed,
)


class BrowserError(AuterityError):
    """Base of every failure of a browser job."""


class BrowserUnavailable(BrowserError, ServiceUnavailable):
    """No Chromium to drive on this machine, or it would not start."""

    slug = "browser-unavailable"
    title = "Browser unavailable"


class PageTimeout(BrowserError, ProviderUnavailable):
    """The page, a wait or the whole job took longer than allowed."""

    status = 504
    slug = "page-timeout"
    title = "Page timed out"


class PageFailed(BrowserError, ProviderUnavailable):
    """The page did not load (network error, refused connection, too large)."""

    slug = "page-failed"
    title = "Page failed to load"


class StepFailed(BrowserError, ValidationFailed):
    """An automation step could not be done on the page (no such element, not fillable)."""

    slug = "browser-step-failed"
    title = "Browser step failed"
