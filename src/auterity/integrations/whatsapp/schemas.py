"""The shape of a WhatsApp send, shared by `POST /api/whatsapp/messages` and `whatsapp.send`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from auterity.integrations.twilio.schemas import SECRET_NAME
from auterity.integrations.whatsapp.service import ACCESS_TOKEN_SECRET


class TemplateMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512, description="An approved template's name.")
    language: str = Field(default="en_US", description="The template's language code.")
    components: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Header, body and button parameters, as the Cloud API takes them.",
    )


class MediaMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["image", "document", "audio", "video", "sticker"]
    link: str = Field(description="A public https URL of the media.")
    caption: str | None = Field(default=None, max_length=1024)
    filename: str | None = Field(default=None, description="Shown for a document.")

    @field_validator("link")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.lower().startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an absolute http(s) URL")
        return value


class WhatsAppSend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(
        pattern=r"^\+?[1-9]\d{1,14}$", description="The recipient's number with country code."
    )
    phone_number_id: str = Field(
        pattern=r"^\d{1,30}$", description="Your WhatsApp business phone number's id."
    )
    text: str | None = Field(default=None, min_length=1, max_length=4096)
    preview_url: bool = Field(default=False, description="Show a preview of a link in `text`.")
    template: TemplateMessage | None = None
    media: MediaMessage | None = None
    access_token_secret: str = Field(
        default=ACCESS_TOKEN_SECRET,
        pattern=SECRET_NAME,
        description="The NAME of the secret holding the Cloud API access token.",
    )

    @field_validator("to", "phone_number_id", mode="before")
    @classmethod
    def _digits(cls, value: object) -> object:
        # Ids are digits, and YAML reads an unquoted `phone_number_id: 1065...` as a number.
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value)
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> WhatsAppSend:
        given = [k for k in ("text", "template", "media") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `text`, `template` and `media`")
        return self

    def message(self) -> dict[str, Any]:
        """The Cloud API message object."""
        to = self.to.removeprefix("+")
        if self.text is not None:
            return {
                "to": to,
                "type": "text",
                "text": {"body": self.text, "preview_url": self.preview_url},
            }
        if self.template is not None:
            template: dict[str, Any] = {
                "name": self.template.name,
                "language": {"code": self.template.language},
            }
            if self.template.components:
                template["components"] = self.template.components
            return {"to": to, "type": "template", "template": template}
        assert self.media is not None
        part = self.media.model_dump(exclude={"type"}, exclude_none=True)
        if self.media.type in ("audio", "sticker"):
            part.pop("caption", None)
        return {"to": to, "type": self.media.type, self.media.type: part}


class WhatsAppSent(BaseModel):
    message_id: str = Field(description="The WhatsApp message id (wamid...).")
    wa_id: str | None = Field(default=None, description="The recipient's WhatsApp id.")
