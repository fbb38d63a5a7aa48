"""Password hashing (argon2id) and the minimum-strength rule."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from auterity.core.errors import FieldError, ValidationFailed

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a cap stops hashing megabytes per request
_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
# Verified against when the account does not exist, so both paths cost one argon2 verify.
_DUMMY_HASH = _hasher.hash("not-a-real-password-used-for-timing")
_COMMON = {
    "password", "password1", "password123", "123456789", "1234567890", "qwertyuiop",
    "iloveyou", "letmein123", "welcome123", "administrator", "passw0rd", "changeme",
}  # fmt: skip


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-cost check: an absent hash still costs one argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with older parameters (rehash on the next login)."""
    return _hasher.check_needs_rehash(password_hash)


def check_strength(password: str, *, email: str | None = None, pointer: str = "/password") -> None:
    """Reject weak passwords with a message saying what would pass."""
    problem: str | None = None
    lowered = password.lower()
    if len(password) < MIN_LENGTH:
        problem = f"Use at least {MIN_LENGTH} characters (got {len(password)})."
    elif len(password) > MAX_LENGTH:
        problem = f"Use at most {MAX_LENGTH} characters."
    elif lowered in _COMMON or len(set(password)) < 4:
        problem = "This password is too common or repetitive; use a longer passphrase."
    elif email and len(email.split("@")[0]) >= 4 and email.split("@")[0].lower() in lowered:
        problem = "Do not include your email name in the password."
    if problem:
        raise ValidationFailed(
            "The password is too weak.",
            errors=[FieldError(pointer, problem, hint="A passphrase of 3-4 random words works.")],
        )
