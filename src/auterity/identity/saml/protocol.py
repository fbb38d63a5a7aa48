"""The SAML 2.0 protocol, through python3-saml: SP settings, metadata, AuthnRequests, responses.

No database and no HTTP here. Checking a response is CPU-bound XML work (schema validation,
canonicalisation, RSA), so async callers run `validate_response` in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Constants
from onelogin.saml2.errors import OneLogin_Saml2_Error
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError as ValidationError
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils

METADATA_CONTENT_TYPE = "application/samlmetadata+xml"
SAML_PATH = "/api/auth/saml"


@dataclass(frozen=True)
class ServiceProvider:
    """Auterity as seen by one identity provider of one tenant."""

    entity_id: str
    acs_url: str
    login_url: str

    @classmethod
    def for_provider(cls, base_url: str, tenant_slug: str, provider_name: str) -> ServiceProvider:
        # The entity id is the metadata URL: it is unique per tenant and provider, and an
        # IdP admin can paste it to fetch everything else.
        root = f"{base_url.rstrip('/')}{SAML_PATH}/{tenant_slug}/{provider_name}"
        return cls(entity_id=f"{root}/metadata", acs_url=f"{root}/acs", login_url=f"{root}/login")


@dataclass(frozen=True)
class IdentityProvider:
    entity_id: str
    sso_url: str
    x509_cert: str
    # Ask the IdP for an email NameID when the email is not carried by an attribute.
    wants_email_name_id: bool = True


@dataclass(frozen=True)
class Assertion:
    """What a valid response says, once its signature, audience and times are checked."""

    assertion_id: str
    name_id: str | None
    attributes: dict[str, list[str]]
    in_response_to: str | None
    expires_at: datetime


class ResponseRejected(Exception):
    """The response is not acceptable; `reason` is a stable code, `message` the library's words."""

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


def _settings(sp: ServiceProvider, idp: IdentityProvider) -> Any:
    name_id_format = (
        Constants.NAMEID_EMAIL_ADDRESS if idp.wants_email_name_id else Constants.NAMEID_UNSPECIFIED
    )
    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": sp.entity_id,
                "assertionConsumerService": {
                    "url": sp.acs_url,
                    "binding": Constants.BINDING_HTTP_POST,
                },
                "NameIDFormat": name_id_format,
            },
            "idp": {
                "entityId": idp.entity_id,
                "singleSignOnService": {
                    "url": idp.sso_url,
                    "binding": Constants.BINDING_HTTP_REDIRECT,
                },
                "x509cert": idp.x509_cert,
            },
            "security": {
                # An unsigned assertion inside a signed response is what most signature-wrapping
                # attacks need; asking for the assertion itself to be signed closes that door.
                "wantAssertionsSigned": True,
                "wantMessagesSigned": False,
                "rejectDeprecatedAlgorithm": True,
                "wantNameId": True,
                "wantAttributeStatement": False,
                # Requesting PasswordProtectedTransport makes IdPs refuse MFA and Kerberos logins.
                "requestedAuthnContext": False,
                "authnRequestsSigned": False,
                "signMetadata": False,
                # Internal hostnames (http://auterity:8000 in a compose network) are fine.
                "allowSingleLabelDomains": True,
            },
        },
        sp_validation_only=False,
    )


def idp_problems(idp: IdentityProvider) -> list[str]:
    """python3-saml's objections to an IdP configuration (codes like `idp_sso_url_invalid`)."""
    placeholder = ServiceProvider.for_provider("https://auterity.invalid", "tenant", "provider")
    try:
        _settings(placeholder, idp)
    except OneLogin_Saml2_Error as exc:
        return [code.strip() for code in str(exc).split(":", 1)[-1].split(",") if code.strip()]
    return []


def metadata_xml(sp: ServiceProvider, idp: IdentityProvider) -> str:
    """The SP metadata document an IdP administrator imports."""
    metadata: str | bytes = _settings(sp, idp).get_sp_metadata()
    return metadata.decode() if isinstance(metadata, bytes) else metadata


class _PresetIdAuthnRequest(OneLogin_Saml2_Authn_Request):  # type: ignore[misc]
    """An AuthnRequest whose ID we choose, so the response's InResponseTo can be verified."""

    def __init__(self, settings: Any, request_id: str) -> None:
        self._preset_id = request_id
        super().__init__(settings)

    def _generate_request_id(self) -> str:
        return self._preset_id


def login_redirect_url(
    sp: ServiceProvider, idp: IdentityProvider, request_id: str, relay_state: str | None
) -> str:
    """The IdP URL carrying a deflated AuthnRequest (HTTP-Redirect binding)."""
    request = _PresetIdAuthnRequest(_settings(sp, idp), request_id)
    parameters = {"SAMLRequest": request.get_request()}
    if relay_state:
        parameters["RelayState"] = relay_state
    url: str = OneLogin_Saml2_Utils.redirect(idp.sso_url, parameters)
    return url


_REASONS = {
    ValidationError.INVALID_SIGNATURE: "invalid_signature",
    ValidationError.NO_SIGNATURE_FOUND: "invalid_signature",
    ValidationError.NO_SIGNED_ASSERTION: "invalid_signature",
    ValidationError.WRONG_SIGNED_ELEMENT: "invalid_signature",
    ValidationError.ID_NOT_FOUND_IN_SIGNED_ELEMENT: "invalid_signature",
    ValidationError.DUPLICATED_ID_IN_SIGNED_ELEMENTS: "invalid_signature",
    ValidationError.INVALID_SIGNED_ELEMENT: "invalid_signature",
    ValidationError.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS: "invalid_signature",
    ValidationError.UNEXPECTED_SIGNED_ELEMENTS: "invalid_signature",
    ValidationError.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE: "invalid_signature",
    ValidationError.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION: "invalid_signature",
    ValidationError.WRONG_NUMBER_OF_SIGNATURES: "invalid_signature",
    ValidationError.DEPRECATED_SIGNATURE_METHOD: "deprecated_algorithm",
    ValidationError.DEPRECATED_DIGEST_METHOD: "deprecated_algorithm",
    ValidationError.ASSERTION_EXPIRED: "expired",
    ValidationError.SESSION_EXPIRED: "expired",
    ValidationError.RESPONSE_EXPIRED: "expired",
    ValidationError.ASSERTION_TOO_EARLY: "not_yet_valid",
    ValidationError.WRONG_AUDIENCE: "wrong_audience",
    ValidationError.WRONG_DESTINATION: "wrong_destination",
    ValidationError.EMPTY_DESTINATION: "wrong_destination",
    ValidationError.WRONG_ISSUER: "wrong_issuer",
    ValidationError.ISSUER_MULTIPLE_IN_RESPONSE: "wrong_issuer",
    ValidationError.ISSUER_NOT_FOUND_IN_ASSERTION: "wrong_issuer",
    ValidationError.WRONG_SUBJECTCONFIRMATION: "invalid_subject_confirmation",
    ValidationError.STATUS_CODE_IS_NOT_SUCCESS: "idp_refused",
    ValidationError.NO_NAMEID: "no_name_id",
    ValidationError.EMPTY_NAMEID: "no_name_id",
}


def _request_data(acs_url: str) -> dict[str, Any]:
    """python3-saml checks Destination and Recipient against the URL it thinks it serves: ours."""
    parts = urlsplit(acs_url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": {},
        "post_data": {},
    }


def validate_response(
    sp: ServiceProvider,
    idp: IdentityProvider,
    saml_response: str,
    max_bytes: int = 1024 * 1024,
) -> Assertion:
    """Check a base64 `SAMLResponse` (HTTP-POST binding) or raise `ResponseRejected`."""
    if len(saml_response) * 3 // 4 > max_bytes:
        raise ResponseRejected("malformed", "the response is too large")
    try:
        response = OneLogin_Saml2_Response(_settings(sp, idp), saml_response)
    except Exception as exc:  # base64, XML syntax, DTDs and entities all end here
        raise ResponseRejected("malformed", type(exc).__name__) from None
    try:
        response.is_valid(_request_data(sp.acs_url), raise_exceptions=True)
    except ValidationError as exc:
        raise ResponseRejected(_REASONS.get(exc.code, "invalid_response"), str(exc)) from None
    except Exception as exc:
        raise ResponseRejected("invalid_response", type(exc).__name__) from None
    expires: int | None = response.valid_scd_not_on_or_after
    if expires is None:
        # The Web SSO profile requires NotOnOrAfter on a bearer confirmation; without it an
        # assertion would be replayable for as long as we remember consumed ids.
        raise ResponseRejected(
            "no_expiry", "the bearer SubjectConfirmationData has no NotOnOrAfter"
        )
    assertion_id: str | None = response.get_assertion_id()
    if not assertion_id:
        raise ResponseRejected("invalid_response", "the assertion has no ID")
    attributes: dict[str, list[str]] = {
        str(name): [str(value) for value in values if value is not None]
        for name, values in (response.get_attributes() or {}).items()
    }
    name_id: str | None = response.get_nameid()
    in_response_to: str | None = response.get_in_response_to()
    return Assertion(
        assertion_id=assertion_id,
        name_id=name_id,
        attributes=attributes,
        in_response_to=in_response_to,
        expires_at=datetime.fromtimestamp(expires, UTC),
    )
