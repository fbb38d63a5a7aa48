"""What a browser job is asked to do and what it gives back: shared by the API and the actions."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

WaitUntil = Literal["commit", "domcontentloaded", "load", "networkidle"]
ElementState = Literal["attached", "detached", "visible", "hidden"]
MAX_STEPS = 50


def check_http_url(value: str) -> str:
    if not re.match(r"^https?://[^/?#]", value, re.IGNORECASE):
        raise ValueError("must be an absolute http:// or https:// URL with a host")
    return value


PageUrl = Annotated[
    str, AfterValidator(check_http_url), Field(description="An absolute http(s):// URL.")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Extract(Strict):
    """What to read from the elements a CSS selector matches."""

    selector: str = Field(min_length=1, description="A CSS (or Playwright) selector.")
    attribute: str | None = Field(default=None, description="An attribute instead of the text.")
    html: bool = Field(default=False, description="The inner HTML instead of the text.")
    all: bool = Field(default=False, description="Every match as a list, not just the first.")


Selectors = dict[str, str | Extract]


class Waiting(Strict):
    wait_until: WaitUntil = Field(
        default="load", description="Which load event ends the navigation."
    )
    wait_for: str | None = Field(
        default=None, description="A selector to wait for after loading (JS-rendered content)."
    )
    wait_for_state: ElementState = "visible"
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds for loading and each wait (at most the platform's limit).",
    )


class ScrapeRequest(Waiting):
    url: PageUrl
    selectors: Selectors = Field(
        default_factory=dict,
        description="Name -> selector (its first match's text) or an extraction.",
    )
    text: bool = Field(default=False, description="Also give the page's whole visible text.")
    html: bool = Field(default=False, description="Also give the page's HTML.")
    screenshot: bool = Field(default=False, description="Also take a PNG screenshot.")
    full_page: bool = Field(default=False, description="Screenshot the whole page.")


class Goto(Strict):
    action: Literal["goto"]
    url: PageUrl
    wait_until: WaitUntil = "load"


class Click(Strict):
    action: Literal["click"]
    selector: str = Field(min_length=1)


class Fill(Strict):
    action: Literal["fill"]
    selector: str = Field(min_length=1)
    value: str


class Press(Strict):
    action: Literal["press"]
    selector: str = Field(min_length=1)
    key: str = Field(min_length=1, description="A key name such as `Enter`.")


class Wait(Strict):
    action: Literal["wait"]
    selector: str | None = Field(default=None, description="Wait for this element ...")
    state: ElementState = "visible"
    seconds: float | None = Field(default=None, gt=0, le=60, description="... or this long.")


class ExtractStep(Extract):
    action: Literal["extract"]
    name: str = Field(min_length=1, description="Where the value goes in `data`.")


Step = Annotated[Goto | Click | Fill | Press | Wait | ExtractStep, Field(discriminator="action")]


class AutomateRequest(Waiting):
    url: PageUrl
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    screenshot: bool = Field(default=False, description="A PNG screenshot at the end.")
    full_page: bool = False


class Blocked(BaseModel):
    url: str
    reason: str


class PageOutcome(BaseModel):
    """The page a job ended on; `screenshot` is base64 over the API, an artifact in a workflow."""

    url: str = Field(description="The final URL, after redirects and steps.")
    status: int | None = Field(description="The HTTP status of the last navigation.")
    title: str
    data: dict[str, Any] = Field(default_factory=dict)
    text: str | None = None
    html: str | None = None
    screenshot: Any = None
    blocked: list[Blocked] = Field(
        default_factory=list, description="Requests of the page the SSRF guard refused."
    )
    requests: int = Field(description="Requests the page made.")
    bytes: int = Field(description="Bytes downloaded.")
    elapsed_ms: float
