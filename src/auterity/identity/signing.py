"""JWT signing keys: ES256 key pairs kept in the database, private halves sealed.

The newest active key signs; retired keys keep verifying until `KEY_GRACE` has passed, so
rotation never logs anyone out. Public keys are published at `/.well-known/jwks.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.clock import utcnow
from auterity.core.crypto import Sealer
from auterity.core.ids import new_id
from auterity.identity.models import SigningKey

ALGORITHM = "ES256"
KEY_GRACE = timedelta(days=2)  # longer than any token a retired key signed


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey | None
    public_key: ec.EllipticCurvePublicKey
    public_jwk: dict[str, Any]
    active: bool


class KeyRing:
    """The keys this process signs and verifies with, reloaded from the database on change."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer
        self._keys: dict[str, LoadedKey] = {}
        self._signing_kid: str | None = None

    async def load(self, session: AsyncSession) -> None:
        rows = (await session.execute(select(SigningKey).order_by(SigningKey.created_at))).scalars()
        now = utcnow()
        keys: dict[str, LoadedKey] = {}
        signing: str | None = None
        for row in rows:
            if row.retired_at is not None and row.retired_at + KEY_GRACE < now:
                continue
            active = row.retired_at is None
            private = None
            if active:
                loaded = serialization.load_pem_private_key(
                    self._sealer.open(row.private_key_sealed), password=None
                )
                assert isinstance(loaded, ec.EllipticCurvePrivateKey)
                private = loaded
                signing = row.kid
            public = ECAlgorithm.from_jwk(json.dumps(row.public_jwk))
            assert isinstance(public, ec.EllipticCurvePublicKey)
            keys[row.kid] = LoadedKey(row.kid, private, public, row.public_jwk, active)
        self._keys, self._signing_kid = keys, signing

    async def ensure(self, session: AsyncSession) -> None:
        """Load the keys, creating the first one on a new installation."""
        await self.load(session)
        if self._signing_kid is None:
            await self.rotate(session)

    async def rotate(self, session: AsyncSession) -> str:
        """Create a new signing key and retire the current one (it keeps verifying)."""
        now = utcnow()
        for row in (
            await session.execute(select(SigningKey).where(SigningKey.retired_at.is_(None)))
        ).scalars():
            row.retired_at = now
        private = ec.generate_private_key(ec.SECP256R1())
        kid = new_id().hex
        jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
        jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        session.add(
            SigningKey(
                kid=kid, algorithm=ALGORITHM, private_key_sealed=self._sealer.seal(pem),
                public_jwk=jwk, created_at=now,
            )
        )  # fmt: skip
        await session.flush()
        await self.load(session)
        return kid

    @property
    def can_sign(self) -> bool:
        return self._signing_kid is not None

    def sign(self, claims: dict[str, Any]) -> str:
        if self._signing_kid is None:
            raise RuntimeError("no signing key loaded; call KeyRing.ensure() at start-up")
        key = self._keys[self._signing_kid]
        assert key.private_key is not None
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        key = self._keys.get(kid)
        return key.public_key if key else None

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [key.public_jwk for key in self._keys.values()]}
