"""The browser service: one warm Chromium per process, a fresh context for every job.

Chromium starts on the first job (so the app starts fast), is shared by the jobs that follow
(each in its own incognito context: no cookies, storage or cache cross from one to the next)
and is closed with the app. Every request a page makes goes through the SSRF guard
(`network.PageNetwork`); each job is bounded in time and in bytes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from playwright.async_api import Browser, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from auterity.core.outbound import OutboundHttp, display_url
from auterity.core.settings import Settings
from auterity.integrations.browser.errors import (
    BrowserUnavailable,
    PageFailed,
    PageTimeout,
    StepFailed,
)
from auterity.integrations.browser.network import PageNetwork
from auterity.integrations.browser.schemas import (
    AutomateRequest,
    Blocked,
    Click,
    Extract,
    ExtractStep,
    Fill,
    Goto,
    PageOutcome,
    Press,
    ScrapeRequest,
    Wait,
    Waiting,
)

T = TypeVar("T")
# Root in a container (CI) needs --no-sandbox; the rest keeps Chromium from calling home.
# The proxy does not exist: every request is routed through the guard and fulfilled, so
# anything that escapes routing (WebSockets, prefetches) fails rather than going out.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


@dataclass(frozen=True)
class PageShot:
    """A job's result with the screenshot still as PNG bytes (stored or encoded by the caller)."""

    outcome: PageOutcome
    png: bytes | None


class BrowserService:
    def __init__(
        self,
        http: OutboundHttp,
        *,
        executable: str | None = None,
        max_concurrent_jobs: int = 4,
        navigation_timeout: float = 30.0,
        job_timeout: float = 120.0,
        max_page_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        self.http = http
        self.executable = executable
        self.navigation_timeout = navigation_timeout
        self.job_timeout = job_timeout
        self.max_page_bytes = max_page_bytes
        self._slots = asyncio.Semaphore(max_concurrent_jobs)
        self._starting = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    @classmethod
    def from_settings(cls, settings: Settings, http: OutboundHttp) -> BrowserService:
        return cls(
            http,
            executable=str(settings.browser_executable) if settings.browser_executable else None,
            max_concurrent_jobs=settings.browser_max_concurrent_jobs,
            navigation_timeout=settings.browser_navigation_timeout_seconds,
            job_timeout=settings.browser_job_timeout_seconds,
            max_page_bytes=settings.browser_max_page_bytes,
        )

    @property
    def started(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    async def scrape(self, tenant_id: uuid.UUID | None, request: ScrapeRequest) -> PageShot:
        """Load a page, wait for it, read what `request` asks for."""

        async def work(page: Page, network: PageNetwork) -> PageShot:
            status = await self._goto(page, network, request.url, request.wait_until, request)
            await self._wait_for(page, request)
            data = {name: await _extract(page, how) for name, how in request.selectors.items()}
            text = await page.inner_text("body") if request.text else None
            html = await page.content() if request.html else None
            png = await _screenshot(page, request.full_page) if request.screenshot else None
            return PageShot(await _outcome(page, network, status, data, text, html), png)

        return await self._job(tenant_id, work)

    async def automate(self, tenant_id: uuid.UUID | None, request: AutomateRequest) -> PageShot:
        """Load a page and do the steps in order: navigate, click, fill, press, wait, read."""

        async def work(page: Page, network: PageNetwork) -> PageShot:
            status = await self._goto(page, network, request.url, request.wait_until, request)
            await self._wait_for(page, request)
            data: dict[str, Any] = {}
            for index, step in enumerate(request.steps):
                where = f"/steps/{index}"
                try:
                    if isinstance(step, Goto):
                        status = await self._goto(page, network, step.url, step.wait_until)
                    elif isinstance(step, Click):
                        await page.click(step.selector)
                    elif isinstance(step, Fill):
                        await page.fill(step.selector, step.value)
                    elif isinstance(step, Press):
                        await page.press(step.selector, step.key)
                    elif isinstance(step, Wait):
                        if step.selector is not None:
                            await page.wait_for_selector(step.selector, state=step.state)
                        if step.seconds is not None:
                            await asyncio.sleep(step.seconds)
                    elif isinstance(step, ExtractStep):
                        data[step.name] = await _extract(page, step)
                except PlaywrightTimeout:
                    raise StepFailed(
                        f"step {index} ({step.action}) timed out: "
                        f"{_target(step)} did not become ready"
                    ) from None
                except PlaywrightError as exc:
                    raise StepFailed(
                        f"step {index} ({step.action}) failed: {_first_line(exc)}",
                        extra={"pointer": where},
                    ) from None
            png = await _screenshot(page, request.full_page) if request.screenshot else None
            return PageShot(await _outcome(page, network, status, data, None, None), png)

        return await self._job(tenant_id, work)

    async def aclose(self) -> None:
        async with self._starting:
            browser, self._browser = self._browser, None
            playwright, self._playwright = self._playwright, None
            if browser is not None:
                with contextlib.suppress(PlaywrightError):  # already gone
                    await browser.close()
            if playwright is not None:
                await playwright.stop()

    async def _job(
        self,
        tenant_id: uuid.UUID | None,
        work: Callable[[Page, PageNetwork], Awaitable[T]],
    ) -> T:
        async with self._slots:
            browser = await self._ensure_browser()
            loop = asyncio.get_running_loop()
            network = PageNetwork(
                self.http, tenant_id, self.max_page_bytes, loop.time(), self.job_timeout
            )
            context = await browser.new_context(
                service_workers="block", accept_downloads=False, java_script_enabled=True
            )
            try:
                await context.route("**/*", network.handle)
                page = await context.new_page()
                page.set_default_timeout(self.navigation_timeout * 1000)
                try:
                    async with asyncio.timeout(self.job_timeout):
                        return await work(page, network)
                except TimeoutError:
                    raise PageTimeout(
                        f"the browser job took longer than {self.job_timeout:g}s "
                        "(AUTERITY_BROWSER_JOB_TIMEOUT_SECONDS)"
                    ) from None
            finally:
                with contextlib.suppress(PlaywrightError):
                    await context.close()

    async def _ensure_browser(self) -> Browser:
        async with self._starting:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            executable = self.executable or next(filter(None, map(shutil.which, CANDIDATES)), None)
            if executable is None:
                raise BrowserUnavailable(
                    "no Chromium to drive: install Debian's `chromium` package (make test "
                    "does) or set AUTERITY_BROWSER_EXECUTABLE"
                )
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            try:
                # Each launch gets a fresh temporary profile of its own (Playwright's default).
                self._browser = await self._playwright.chromium.launch(
                    executable_path=executable, args=list(LAUNCH_ARGS), headless=True
                )
            except PlaywrightError as exc:
                raise BrowserUnavailable(
                    f"Chromium at {executable} did not start: {_first_line(exc)}"
                ) from None
            return self._browser

    async def _goto(
        self,
        page: Page,
        network: PageNetwork,
        url: str,
        wait_until: Any,
        waiting: Waiting | None = None,
    ) -> int | None:
        timeout = self._timeout(waiting)
        network.navigation_error = None
        try:
            response = await page.goto(url, wait_until=wait_until, timeout=timeout * 1000)
        except PlaywrightTimeout:
            raise PageTimeout(f"{display_url(url)} did not load within {timeout:g}s") from None
        except PlaywrightError as exc:
            if network.navigation_error is not None:
                raise network.navigation_error from None
            raise PageFailed(f"{display_url(url)} did not load: {_first_line(exc)}") from None
        return response.status if response is not None else None

    async def _wait_for(self, page: Page, waiting: Waiting) -> None:
        if waiting.wait_for is None:
            return
        timeout = self._timeout(waiting)
        try:
            await page.wait_for_selector(
                waiting.wait_for, state=waiting.wait_for_state, timeout=timeout * 1000
            )
        except PlaywrightTimeout:
            raise PageTimeout(
                f"{waiting.wait_for!r} was not {waiting.wait_for_state} within {timeout:g}s"
            ) from None
        except PlaywrightError as exc:
            raise StepFailed(f"cannot wait for {waiting.wait_for!r}: {_first_line(exc)}") from None

    def _timeout(self, waiting: Waiting | None) -> float:
        asked = waiting.timeout if waiting is not None else None
        return min(asked, self.navigation_timeout) if asked else self.navigation_timeout


async def _extract(page: Page, how: str | Extract) -> Any:
    if isinstance(how, str):
        how = Extract(selector=how)
    try:
        elements = await page.query_selector_all(how.selector)
    except PlaywrightError as exc:
        raise StepFailed(f"{how.selector!r} is not a valid selector: {_first_line(exc)}") from None
    values = []
    for element in elements if how.all else elements[:1]:
        if how.attribute is not None:
            values.append(await element.get_attribute(how.attribute))
        elif how.html:
            values.append(await element.inner_html())
        else:
            values.append((await element.inner_text()).strip())
    if how.all:
        return values
    return values[0] if values else None


async def _screenshot(page: Page, full_page: bool) -> bytes:
    return await page.screenshot(full_page=full_page, type="png")


async def _outcome(
    page: Page,
    network: PageNetwork,
    status: int | None,
    data: dict[str, Any],
    text: str | None,
    html: str | None,
) -> PageOutcome:
    loop = asyncio.get_running_loop()
    return PageOutcome(
        url=network.redirected.get(page.url, page.url),
        status=status,
        title=await page.title(),
        data=data,
        text=text,
        html=html,
        blocked=[Blocked(url=b.url, reason=b.reason) for b in network.blocked],
        requests=network.requests,
        bytes=network.downloaded,
        elapsed_ms=round((loop.time() - network.started) * 1000, 1),
    )


def encode_png(png: bytes) -> str:
    return base64.b64encode(png).decode()


def _target(step: Any) -> str:
    selector = getattr(step, "selector", None)
    return repr(selector) if selector else "the page"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
