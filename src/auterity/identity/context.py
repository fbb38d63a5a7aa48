"""The identity runtime of one process: key ring, tokens, login throttle, access policies."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from auterity.core.logging import get_logger
from auterity.core.runtime import Runtime
from auterity.identity.policies.enforcement import PolicyEnforcer
from auterity.identity.signing import KeyRing
from auterity.identity.throttle import DatabaseThrottle, RedisThrottle, Throttle
from auterity.identity.tokens import TokenService

log = get_logger(__name__)


@dataclass
class IdentityContext:
    runtime: Runtime
    keyring: KeyRing
    tokens: TokenService
    throttle: Throttle
    policies: PolicyEnforcer

    @classmethod
    def build(cls, runtime: Runtime) -> IdentityContext:
        keyring = KeyRing(runtime.sealer)
        issuer = runtime.settings.public_url or "auterity"
        throttle: Throttle = (
            RedisThrottle(runtime.redis)
            if runtime.redis is not None
            else DatabaseThrottle(runtime.db)
        )
        return cls(
            runtime, keyring, TokenService(keyring, issuer), throttle, PolicyEnforcer(runtime)
        )

    async def start(self) -> None:
        """Load signing keys; a database not yet migrated is reported by /health/ready instead."""
        try:
            await self.ensure_keys()
        except DBAPIError:
            log.warning("signing_keys_unavailable", hint="run `auterity db upgrade`")

    async def ensure_keys(self) -> None:
        if not self.keyring.can_sign:
            async with self.runtime.db.session() as session:
                await self.keyring.ensure(session)
