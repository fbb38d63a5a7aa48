"""The shape of an email send, shared by `POST /api/email/messages` and `email.send`."""

from __future__ import annotations

import base64
import binascii
from email.utils import getaddresses
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from auterity.integrations.email.service import Attachment, Email, SmtpServer
from auterity.integrations.twilio.schemas import SECRET_NAME

USERNAME_SECRET = "SMTP_USERNAME"  # noqa: S105 - a secret's name
PASSWORD_SECRET = "SMTP_PASSWORD"  # noqa: S105 - a secret's name
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def _checked_addresses(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else list(value or [])
    for item in values:
        if not isinstance(item, str) or any(c in item for c in "\r\n"):
            raise ValueError(f"{item!r} is not an email address")
        parsed = getaddresses([item])
        if len(parsed) != 1 or not parsed[0][1]:
            raise ValueError(f"{item!r} is not one email address")
        try:
            validate_email(parsed[0][1], check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"{item!r} is not a valid email address: {exc}") from None
    return values


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", pattern=r"^[\w.+-]+/[\w.+-]+$")
    text: str | None = Field(default=None, description="The content as text (UTF-8).")
    content_base64: str | None = Field(default=None, description="The content, base64.")

    @model_validator(mode="after")
    def _one_content(self) -> AttachmentIn:
        if (self.text is None) == (self.content_base64 is None):
            raise ValueError("give exactly one of `text` and `content_base64`")
        if len(self.content()) > MAX_ATTACHMENT_BYTES:
            raise ValueError(f"an attachment may be at most {MAX_ATTACHMENT_BYTES} bytes")
        return self

    def content(self) -> bytes:
        if self.text is not None:
            return self.text.encode()
        try:
            return base64.b64decode(self.content_base64 or "", validate=True)
        except binascii.Error as exc:
            raise ValueError(f"content_base64 is not base64: {exc}") from None


class EmailSend(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: list[str] = Field(min_length=1, max_length=100, description="One address or a list.")
    cc: list[str] = Field(default_factory=list, max_length=100)
    bcc: list[str] = Field(default_factory=list, max_length=100)
    subject: str = Field(max_length=998)
    text: str | None = Field(default=None, description="The plain-text body.")
    html: str | None = Field(default=None, description="The HTML body (with `text`: both).")
    from_: str | None = Field(
        default=None, alias="from", description="The sender (default: AUTERITY_SMTP_FROM)."
    )
    reply_to: list[str] = Field(default_factory=list, max_length=10)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    host: str | None = Field(
        default=None,
        max_length=253,
        description="Your own SMTP server (default: AUTERITY_SMTP_HOST); checked against the "
        "outbound network policy.",
    )
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] | None = None
    username_secret: str = Field(
        default=USERNAME_SECRET,
        pattern=SECRET_NAME,
        description="The NAME of the secret holding the SMTP user; not stored: no login.",
    )
    password_secret: str = Field(
        default=PASSWORD_SECRET,
        pattern=SECRET_NAME,
        description="The NAME of the secret holding the SMTP password.",
    )

    @field_validator("to", "cc", "bcc", "reply_to", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> list[str]:
        return _checked_addresses(value)

    @field_validator("from_", mode="before")
    @classmethod
    def _sender(cls, value: Any) -> Any:
        if value is not None:
            _checked_addresses(value)
        return value

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n"):
            raise ValueError("the subject must be one line")
        return value

    @model_validator(mode="after")
    def _body(self) -> EmailSend:
        if self.text is None and self.html is None:
            raise ValueError("give `text`, `html`, or both")
        if self.host is None and (self.port is not None or self.security is not None):
            raise ValueError("`port` and `security` go with `host` (your own SMTP server)")
        return self

    def email(self) -> Email:
        return Email(
            to=tuple(self.to),
            subject=self.subject,
            sender=self.from_,
            cc=tuple(self.cc),
            bcc=tuple(self.bcc),
            reply_to=tuple(self.reply_to),
            text=self.text,
            html=self.html,
            attachments=tuple(
                Attachment(a.filename, a.content(), a.content_type) for a in self.attachments
            ),
        )

    def server(self) -> SmtpServer | None:
        """The step's own server, or None to use the configured one."""
        if self.host is None:
            return None
        return SmtpServer(
            host=self.host,
            port=self.port or (465 if self.security == "tls" else 587),
            security=self.security or "starttls",
        )


class EmailSent(BaseModel):
    message_id: str = Field(description="The Message-ID header (stable for one idempotency key).")
    accepted: list[str]
    refused: dict[str, str] = Field(description="Recipients the server refused, with why.")
