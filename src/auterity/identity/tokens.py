"""Access tokens (JWT) and refresh tokens (opaque, hashed, rotated in families)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from auterity.core.clock import utcnow
from auterity.core.errors import Unauthenticated
from auterity.identity.signing import ALGORITHM, KeyRing

ACCESS_TTL = timedelta(minutes=30)
REFRESH_TTL = timedelta(days=30)
CHALLENGE_TTL = timedelta(minutes=5)
AUDIENCE = "auterity"
REFRESH_PREFIX = "rt_"
LEEWAY_S = 5.0


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    token_id: str
    amr: tuple[str, ...]
    issued_at: int
    purpose: str  # "access", or "mfa" for a login challenge awaiting its second factor
    # When the user last proved who they are (OIDC `auth_time`): the login, not the refresh
    # that minted this token. None for tokens of sessions older than the claim.
    auth_time: int | None = None


class TokenService:
    def __init__(self, keyring: KeyRing, issuer: str) -> None:
        self.keyring = keyring
        self.issuer = issuer

    def issue(
        self,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        *,
        amr: list[str],
        purpose: str = "access",
        auth_time: datetime | None = None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, int]:
        """A signed token and its lifetime in seconds."""
        ttl = ACCESS_TTL if purpose == "access" else CHALLENGE_TTL
        now = utcnow()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE if purpose == "access" else f"{AUDIENCE}:{purpose}",
            "sub": str(user_id),
            "tid": str(tenant_id),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": secrets.token_hex(12),
            "amr": amr,
            "typ": purpose,
            **(extra or {}),
        }
        if auth_time is not None:
            claims["auth_time"] = int(auth_time.timestamp())
        return self.keyring.sign(claims), int(ttl.total_seconds())

    def kid_of(self, token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("The token is malformed.") from None
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise Unauthenticated("The token's algorithm or key id is not accepted.")
        return kid

    def verify(self, token: str, *, purpose: str = "access") -> AccessClaims:
        """Check signature, algorithm, key id, issuer, audience and lifetime."""
        kid = self.kid_of(token)
        key = self.keyring.public_key(kid)
        if key is None:
            raise Unauthenticated("The token was signed with an unknown key.")
        audience = AUDIENCE if purpose == "access" else f"{AUDIENCE}:{purpose}"
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],  # never taken from the token: no `none`, no HS256 confusion
                audience=audience,
                issuer=self.issuer,
                # Times are checked below against the platform clock (injectable in tests).
                options={
                    "require": ["exp", "iat", "sub", "aud", "iss", "tid"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise Unauthenticated("The token is not meant for this service.") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("The token was issued by someone else.") from None
        except jwt.PyJWTError:
            raise Unauthenticated("The token is invalid.") from None
        if claims.get("typ") != purpose:
            raise Unauthenticated("The token is of the wrong kind.")
        now = utcnow().timestamp()
        try:
            expires, not_before = float(claims["exp"]), float(claims.get("nbf", claims["iat"]))
        except (TypeError, ValueError):
            raise Unauthenticated("The token's times are invalid.") from None
        if expires + LEEWAY_S < now:
            raise Unauthenticated("The token has expired.")
        if not_before - LEEWAY_S > now:
            raise Unauthenticated("The token is not valid yet.")
        auth_time = claims.get("auth_time")
        if auth_time is not None and not isinstance(auth_time, int):
            raise Unauthenticated("The token's auth_time is invalid.")
        try:
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                tenant_id=uuid.UUID(claims["tid"]),
                token_id=str(claims.get("jti", "")),
                amr=tuple(claims.get("amr") or ()),
                issued_at=int(claims["iat"]),
                purpose=purpose,
                auth_time=auth_time,
            )
        except (ValueError, TypeError):
            raise Unauthenticated("The token's subject is invalid.") from None


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)
