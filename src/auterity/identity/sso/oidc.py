"""The OpenID Connect authorization code flow with PKCE, as a relying party (no HTTP routes).

Authlib builds the protocol messages (authorization request, token request, client
authentication) and checks the ID token's claims; joserfc verifies its signature. Calls go
through the project's httpx, so they are traced and bounded like every outbound call.
A refusal raises `LoginRefused`: a reason for the audit log and the error the caller sees.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError

from auterity.core.clock import utcnow
from auterity.core.errors import AuterityError, ProviderUnavailable, Unauthenticated
from auterity.core.outbound import AddressBlocked
from auterity.identity.sso.discovery import ProviderDirectory, ProviderMetadata

# Clock skew tolerated between us and the provider when checking exp and iat.
LEEWAY_SECONDS = 60


class LoginRefused(Exception):
    """A login that must not go on: `reason` is for the audit log, `error` for the caller."""

    def __init__(
        self, reason: str, error: AuterityError, details: dict[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.details = details or {}


@dataclass(frozen=True)
class RelyingParty:
    """Our registration at one provider."""

    client_id: str
    client_secret: str | None
    redirect_uri: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class LoginSecrets:
    """The per-login values that tie the provider's answer to the request we sent."""

    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def generate(cls) -> LoginSecrets:
        # 64 bytes give an 86-character verifier, inside RFC 7636's 43..128.
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64))


def authorization_url(
    metadata: ProviderMetadata,
    party: RelyingParty,
    login: LoginSecrets,
    login_hint: str | None = None,
) -> str:
    """Where to send the browser: the provider's authorize endpoint with an S256 challenge."""
    url: str = prepare_grant_uri(
        metadata.authorization_endpoint,
        client_id=party.client_id,
        response_type="code",
        redirect_uri=party.redirect_uri,
        scope=list(party.scopes),
        state=login.state,
        nonce=login.nonce,
        code_challenge=create_s256_code_challenge(login.code_verifier),
        code_challenge_method="S256",
        login_hint=login_hint,
    )
    return url


@dataclass(frozen=True)
class VerifiedLogin:
    """Who the provider says signed in: ID-token claims merged with userinfo."""

    subject: str
    claims: dict[str, Any]


def _client_auth_method(metadata: ProviderMetadata, party: RelyingParty) -> str:
    if party.client_secret is None:
        return "none"
    if "client_secret_basic" in metadata.token_auth_methods:
        return "client_secret_basic"
    if "client_secret_post" in metadata.token_auth_methods:
        return "client_secret_post"
    raise LoginRefused(
        "unsupported_client_auth",
        ProviderUnavailable("The identity provider supports no client secret authentication."),
    )


async def _exchange_code(
    client: httpx.AsyncClient,
    metadata: ProviderMetadata,
    party: RelyingParty,
    code: str,
    code_verifier: str,
) -> dict[str, Any]:
    body = prepare_token_request(
        "authorization_code",
        code=code,
        redirect_uri=party.redirect_uri,
        code_verifier=code_verifier,
    )
    auth = ClientAuth(party.client_id, party.client_secret, _client_auth_method(metadata, party))
    url, headers, body = auth.prepare(
        "POST",
        metadata.token_endpoint,
        {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        body,
    )
    try:
        response = await client.post(url, content=body, headers=headers)
    except (httpx.HTTPError, AddressBlocked):
        raise LoginRefused(
            "provider_unreachable",
            ProviderUnavailable("The identity provider's token endpoint did not answer."),
        ) from None
    try:
        token = response.json()
    except ValueError:
        token = None
    if response.status_code >= 500 or not isinstance(token, dict):
        raise LoginRefused(
            "token_endpoint_failed",
            ProviderUnavailable("The identity provider's token endpoint failed."),
        )
    if "error" in token or response.status_code != 200:
        # invalid_grant and the like: a replayed, expired or forged code, or a wrong verifier.
        raise LoginRefused(
            "code_rejected",
            Unauthenticated("The identity provider did not accept the sign-in; start again."),
        )
    if not isinstance(token.get("id_token"), str):
        raise LoginRefused(
            "no_id_token",
            Unauthenticated("The identity provider returned no ID token; is `openid` a scope?"),
        )
    return token


async def _verify_id_token(
    directory: ProviderDirectory,
    metadata: ProviderMetadata,
    party: RelyingParty,
    id_token: str,
    nonce: str,
    access_token: str | None,
) -> dict[str, Any]:
    refused = LoginRefused(
        "bad_id_token", Unauthenticated("The identity provider's ID token is not valid.")
    )
    keys = await directory.signing_keys(metadata.jwks_uri)
    try:
        try:
            token = jwt.decode(id_token, keys, algorithms=list(metadata.signing_algorithms))
        except InvalidKeyIdError:
            # Signed with a key we have not seen: the provider may have rotated; look once more.
            keys = await directory.signing_keys(metadata.jwks_uri, refresh=True)
            token = jwt.decode(id_token, keys, algorithms=list(metadata.signing_algorithms))
    except BadSignatureError:
        raise LoginRefused(
            "bad_signature",
            Unauthenticated("The ID token's signature does not verify with the provider's keys."),
        ) from None
    except JoseError:
        raise refused from None
    claims = CodeIDToken(
        token.claims,
        token.header,
        options={
            "iss": {"essential": True, "value": metadata.issuer},
            "aud": {"essential": True, "value": party.client_id},
        },
        params={"nonce": nonce, "client_id": party.client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=int(utcnow().timestamp()), leeway=LEEWAY_SECONDS)
    except JoseError as exc:
        reason = "nonce_mismatch" if getattr(exc, "claim", None) == "nonce" else "bad_id_token"
        raise LoginRefused(reason, refused.error) from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise refused
    return dict(claims)


async def _userinfo(
    client: httpx.AsyncClient, metadata: ProviderMetadata, access_token: str, subject: str
) -> dict[str, Any]:
    assert metadata.userinfo_endpoint is not None
    try:
        response = await client.get(
            metadata.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}
        )
        response.raise_for_status()
        info = response.json()
    except (httpx.HTTPError, AddressBlocked, ValueError):
        raise LoginRefused(
            "userinfo_failed",
            ProviderUnavailable("The identity provider's userinfo endpoint failed."),
        ) from None
    # OpenID Connect Core §5.3.2: a userinfo `sub` other than the ID token's must be ignored,
    # or one user's claims could be attached to another's login.
    if not isinstance(info, dict) or info.get("sub") != subject:
        raise LoginRefused(
            "userinfo_subject_mismatch",
            Unauthenticated("The identity provider's userinfo is about someone else."),
        )
    return info


async def complete_login(
    directory: ProviderDirectory,
    metadata: ProviderMetadata,
    party: RelyingParty,
    *,
    code: str,
    code_verifier: str,
    nonce: str,
) -> VerifiedLogin:
    """Redeem `code`, verify the ID token and read userinfo: who signed in, by the provider."""
    async with directory.client() as client:
        token = await _exchange_code(client, metadata, party, code, code_verifier)
        access_token = token.get("access_token")
        claims = await _verify_id_token(
            directory,
            metadata,
            party,
            token["id_token"],
            nonce,
            access_token if isinstance(access_token, str) else None,
        )
        subject = str(claims["sub"])
        if metadata.userinfo_endpoint and isinstance(access_token, str):
            info = await _userinfo(client, metadata, access_token, subject)
            # The signed ID token wins where both speak.
            claims = {**info, **claims}
    return VerifiedLogin(subject=subject, claims=claims)
