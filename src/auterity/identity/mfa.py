"""TOTP multi-factor authentication (pyotp): enrol, confirm, verify, recovery codes, disable."""

from __future__ import annotations

import base64
import io
import secrets

import pyotp
import qrcode
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.clock import utcnow
from auterity.core.errors import Conflict, FieldError, Unauthenticated, ValidationFailed
from auterity.identity import audit
from auterity.identity.context import IdentityContext
from auterity.identity.models import RecoveryCode, User

ISSUER = "Auterity"
RECOVERY_CODES = 10
_BAD_CODE = "The code is not valid."


def _totp(identity: IdentityContext, user: User) -> pyotp.TOTP:
    assert user.mfa_secret_sealed is not None
    return pyotp.TOTP(identity.runtime.sealer.open_text(user.mfa_secret_sealed))


def qr_png_data_uri(uri: str) -> str:
    image = qrcode.make(uri)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def enrol(identity: IdentityContext, user: User) -> tuple[str, str]:
    """Start (or restart) enrolment: a new seed, its otpauth URI. MFA stays off until confirmed."""
    if user.mfa_enabled:
        raise Conflict("MFA is already enabled; disable it first to enrol a new device.")
    secret = pyotp.random_base32()
    user.mfa_secret_sealed = identity.runtime.sealer.seal(secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return secret, uri


def verify_totp(identity: IdentityContext, user: User, code: str) -> bool:
    """Check a TOTP code, refusing a code whose time step was already used (replay)."""
    if user.mfa_secret_sealed is None:
        return False
    totp = _totp(identity, user)
    now = utcnow()
    for offset in (0, -1, 1):  # one step of clock drift either way
        step = totp.timecode(now) + offset
        if secrets.compare_digest(totp.generate_otp(step), code.strip()):
            if user.mfa_last_step is not None and step <= user.mfa_last_step:
                return False
            user.mfa_last_step = step
            return True
    return False


async def confirm(
    identity: IdentityContext, session: AsyncSession, user: User, code: str
) -> list[str]:
    if user.mfa_enabled:
        raise Conflict("MFA is already enabled.")
    if user.mfa_secret_sealed is None:
        raise Conflict("Start enrolment first (POST /api/auth/mfa/enrol).")
    if not verify_totp(identity, user, code):
        raise ValidationFailed(
            _BAD_CODE, errors=[FieldError("/code", "does not match the authenticator")]
        )
    user.mfa_enabled = True
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=identity.runtime.hasher.digest(c)) for c in codes
    )
    return codes


async def use_recovery_code(
    identity: IdentityContext, session: AsyncSession, user: User, code: str
) -> bool:
    digests = identity.runtime.hasher.candidates(code.strip().lower())
    found = await session.execute(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash.in_(digests),
            RecoveryCode.used_at.is_(None),
        )
    )
    row = found.scalar_one_or_none()
    if row is None:
        return False
    row.used_at = utcnow()
    return True


async def check_second_factor(
    identity: IdentityContext, session: AsyncSession, user: User, code: str
) -> str:
    """Accept a TOTP code or an unused recovery code; returns which was used."""
    if verify_totp(identity, user, code):
        return "totp"
    if await use_recovery_code(identity, session, user, code):
        return "recovery_code"
    raise Unauthenticated(_BAD_CODE)


async def disable(identity: IdentityContext, session: AsyncSession, user: User, code: str) -> None:
    if not user.mfa_enabled:
        raise Conflict("MFA is not enabled.")
    await check_second_factor(identity, session, user, code)
    user.mfa_enabled = False
    user.mfa_secret_sealed = None
    user.mfa_last_step = None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(session, "mfa.disabled", actor_user_id=user.id, actor_label=user.email)
