"""The shape of an SMS send, shared by `POST /api/sms/messages` and the `sms.send` action."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from auterity.integrations.twilio.service import ACCOUNT_SID_SECRET, AUTH_TOKEN_SECRET, SmsMessage
from auterity.secrets.service import NAME_PATTERN

PHONE = r"^(whatsapp:)?\+[1-9]\d{1,14}$"
SECRET_NAME = f"^{NAME_PATTERN.pattern}$"


class SmsSend(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: str = Field(pattern=PHONE, description="The recipient in E.164 form, e.g. +15558675310.")
    body: str | None = Field(default=None, max_length=1600, description="The text (or media).")
    from_: str | None = Field(
        default=None,
        alias="from",
        min_length=3,
        max_length=40,
        description="Your Twilio number (E.164), short code or alphanumeric sender id.",
    )
    messaging_service_sid: str | None = Field(
        default=None,
        pattern=r"^MG[0-9a-fA-F]{32}$",
        description="Send through a messaging service instead of one `from` number.",
    )
    media_urls: list[str] = Field(
        default_factory=list, max_length=10, description="Public URLs of images (MMS)."
    )
    status_callback: str | None = Field(
        default=None,
        description="Where Twilio posts delivery statuses (this platform's "
        "/api/sms/status/{tenant} turns them into `sms.status` events).",
    )
    account_sid_secret: str = Field(
        default=ACCOUNT_SID_SECRET,
        pattern=SECRET_NAME,
        description="The NAME of the secret holding the account SID.",
    )
    auth_token_secret: str = Field(
        default=AUTH_TOKEN_SECRET,
        pattern=SECRET_NAME,
        description="The NAME of the secret holding the auth token (never the token itself).",
    )

    @field_validator("media_urls", "status_callback")
    @classmethod
    def _urls(cls, value: list[str] | str | None) -> list[str] | str | None:
        for url in [value] if isinstance(value, str) else value or []:
            if not url.lower().startswith(("https://", "http://")):
                raise ValueError(f"{url!r} is not an absolute http(s) URL")
        return value

    @model_validator(mode="after")
    def _sender_and_content(self) -> SmsSend:
        if (self.from_ is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of `from` and `messaging_service_sid`")
        if not self.body and not self.media_urls:
            raise ValueError("give a `body`, `media_urls`, or both")
        return self

    def message(self) -> SmsMessage:
        return SmsMessage(
            to=self.to,
            body=self.body,
            sender=self.from_,
            messaging_service_sid=self.messaging_service_sid,
            media_urls=tuple(self.media_urls),
            status_callback=self.status_callback,
        )


class SmsSent(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, populate_by_name=True)

    sid: str = Field(description="Twilio's message SID (SM...).")
    status: str = Field(
        description="Usually `queued` or `accepted`; later statuses arrive as `sms.status` events."
    )
    to: str | None = None
    from_: str | None = Field(default=None, alias="from")
    num_segments: int | None = None
