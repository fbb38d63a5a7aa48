"""Request and response shapes of the SAML API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from auterity.core.schemas import ResponseModel, StrictModel
from auterity.identity.schemas import TokenResponse

_NAME = r"^[a-z0-9][a-z0-9-]*$"
_URL = r"^https?://\S+$"


class SamlProviderUpdate(StrictModel):
    """Fields left out keep their value; `null` clears a nullable one."""

    idp_entity_id: str | None = Field(default=None, min_length=1, max_length=1024)
    sso_url: str | None = Field(default=None, max_length=2048, pattern=_URL)
    idp_x509_cert: str | None = Field(
        default=None,
        min_length=1,
        max_length=20_000,
        description="The IdP's signing certificate: PEM, or the bare base64 of its DER.",
    )
    email_attribute: str | None = Field(
        default=None,
        max_length=1024,
        description="Attribute holding the email; null means the NameID is the email.",
    )
    role_attribute: str | None = Field(
        default=None, max_length=1024, description="Attribute whose values select the role."
    )
    role_mapping: dict[str, str] | None = Field(
        default=None,
        description="Attribute value -> role; several matches give the highest-ranked role.",
    )
    default_role: str | None = Field(
        default=None,
        max_length=100,
        description="Role when no value maps; null refuses such logins.",
    )
    allowed_email_domains: list[str] | None = Field(
        default=None, description="Email domains this IdP may log in; empty allows any."
    )
    enabled: bool | None = None


class SamlProviderCreate(SamlProviderUpdate):
    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=_NAME,
        description="Short name used in the SAML URLs; cannot change later.",
    )
    idp_entity_id: str = Field(min_length=1, max_length=1024)
    sso_url: str = Field(max_length=2048, pattern=_URL)
    idp_x509_cert: str = Field(min_length=1, max_length=20_000)
    role_mapping: dict[str, str] = Field(default_factory=dict)
    default_role: str | None = Field(default="viewer", max_length=100)
    allowed_email_domains: list[str] = Field(default_factory=list)
    enabled: bool = True


class SamlProviderOut(ResponseModel):
    id: uuid.UUID
    name: str
    idp_entity_id: str
    sso_url: str
    idp_x509_cert: str
    idp_cert_expires_at: datetime
    email_attribute: str | None
    role_attribute: str | None
    role_mapping: dict[str, str]
    default_role: str | None
    allowed_email_domains: list[str]
    enabled: bool
    sp_entity_id: str = Field(description="Give this to the IdP as the SP entity id (audience).")
    acs_url: str = Field(description="Give this to the IdP as the ACS URL (HTTP-POST).")
    metadata_url: str
    login_url: str
    created_at: datetime
    updated_at: datetime


class SamlLoginResponse(TokenResponse):
    relay_state: str | None = None
