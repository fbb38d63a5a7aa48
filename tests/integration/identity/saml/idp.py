"""A test identity provider: its own RSA key and self-signed certificate, and real signed responses.

The assertion is signed with xmlsec (through python3-saml's `add_sign`) exactly as an IdP
would sign it, so the service provider's checks run against genuine XML signatures.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Constants
from onelogin.saml2.utils import OneLogin_Saml2_Utils

EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SigningIdp:
    entity_id: str
    key_pem: str
    cert_pem: str

    @classmethod
    def generate(cls, entity_id: str = "https://idp.example.test/saml") -> SigningIdp:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test IdP")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return cls(entity_id, key_pem, cert.public_bytes(serialization.Encoding.PEM).decode())

    def response(
        self,
        *,
        acs_url: str,
        audience: str,
        name_id: str,
        attributes: dict[str, list[str]] | None = None,
        assertion_id: str | None = None,
        in_response_to: str | None = None,
        issued_at: datetime | None = None,
        lifetime: timedelta = timedelta(minutes=5),
        destination: str | None = None,
        signer: SigningIdp | None = None,
        sign: bool = True,
    ) -> str:
        """A `samlp:Response` with one signed assertion, as XML text (see `encode`)."""
        issued = issued_at or datetime.now(UTC)
        expires = _time(issued + lifetime)
        irt = f" InResponseTo={quoteattr(in_response_to)}" if in_response_to else ""
        values = "".join(
            f"<saml:Attribute Name={quoteattr(name)}>"
            + "".join(
                f'<saml:AttributeValue xsi:type="xs:string">{escape(v)}</saml:AttributeValue>'
                for v in vals
            )
            + "</saml:Attribute>"
            for name, vals in (attributes or {}).items()
        )
        statement = f"<saml:AttributeStatement>{values}</saml:AttributeStatement>" if values else ""
        assertion = f"""<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 ID="{assertion_id or "_a" + secrets.token_hex(16)}" Version="2.0" IssueInstant="{_time(issued)}">
<saml:Issuer>{escape(self.entity_id)}</saml:Issuer>
<saml:Subject>
<saml:NameID Format="{EMAIL_FORMAT}">{escape(name_id)}</saml:NameID>
<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
<saml:SubjectConfirmationData NotOnOrAfter="{expires}" Recipient={quoteattr(acs_url)}{irt}/>
</saml:SubjectConfirmation>
</saml:Subject>
<saml:Conditions NotBefore="{_time(issued - timedelta(minutes=1))}" NotOnOrAfter="{expires}">
<saml:AudienceRestriction><saml:Audience>{escape(audience)}</saml:Audience></saml:AudienceRestriction>
</saml:Conditions>
<saml:AuthnStatement AuthnInstant="{_time(issued)}" SessionIndex="_s{secrets.token_hex(8)}">
<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>
</saml:AuthnStatement>
{statement}
</saml:Assertion>"""
        signed_text = self.sign(assertion, signer) if sign else assertion
        return f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
 xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{secrets.token_hex(16)}" Version="2.0"
 IssueInstant="{_time(issued)}" Destination={quoteattr(destination or acs_url)}{irt}>
<saml:Issuer>{escape(self.entity_id)}</saml:Issuer>
<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
{signed_text}
</samlp:Response>"""

    def sign(self, element_xml: str, signer: SigningIdp | None = None) -> str:
        """`element_xml` with an enveloped RSA-SHA256 signature after its Issuer."""
        key = signer or self
        signed = OneLogin_Saml2_Utils.add_sign(
            element_xml,
            key.key_pem,
            key.cert_pem,
            sign_algorithm=Constants.RSA_SHA256,
            digest_algorithm=Constants.SHA256,
        )
        return signed.decode() if isinstance(signed, bytes) else str(signed)


def encode(response_xml: str) -> str:
    """The base64 form the HTTP-POST binding carries in `SAMLResponse`."""
    return base64.b64encode(response_xml.encode()).decode()
