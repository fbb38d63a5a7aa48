"""Encryption at rest and keyed hashing, derived from the platform secret key.

Values are sealed with Fernet (AES-128-CBC + HMAC-SHA256) under keys derived by HKDF from the
secret key; `MultiFernet` decrypts with any old key and `rotate` re-seals under the newest,
so the secret key can be rotated by listing the previous one in `AUTERITY_PREVIOUS_SECRET_KEYS`.
High-entropy tokens (API keys, refresh tokens, recovery codes) are stored as HMAC-SHA256
digests: a leaked table is useless without the key, and a lookup costs microseconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from auterity.core.errors import AuterityError


class DecryptionFailed(AuterityError):
    """A sealed value could not be opened with any known key."""

    slug = "decryption-failed"
    title = "Stored value could not be decrypted"


def derive_key(secret: str, purpose: str, length: int = 32) -> bytes:
    """A key for one purpose (`"encryption"`, `"token-hmac"`), so one leak does not give all."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"auterity", info=purpose.encode()
    ).derive(secret.encode())


class Sealer:
    """Encrypts and decrypts small values (secrets, TOTP seeds, private keys)."""

    def __init__(self, secret: str, previous: Sequence[str] = ()) -> None:
        keys = [secret, *previous]
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(derive_key(key, "encryption"))) for key in keys]
        )

    def seal(self, plaintext: str | bytes) -> str:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return self._fernet.encrypt(data).decode("ascii")

    def open(self, sealed: str) -> bytes:
        try:
            return self._fernet.decrypt(sealed.encode("ascii"))
        except InvalidToken:
            raise DecryptionFailed(
                "A stored value was sealed with a key this process does not have."
            ) from None

    def open_text(self, sealed: str) -> str:
        return self.open(sealed).decode()

    def rotate(self, sealed: str) -> str:
        """Re-seal under the current key (used by key rotation)."""
        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise DecryptionFailed(
                "A stored value was sealed with a key this process does not have."
            ) from None


class TokenHasher:
    """HMAC-SHA256 digests of high-entropy tokens, compared in constant time.

    New digests use the current key; look-ups also try the previous keys, so rotating the
    secret key does not invalidate API keys, refresh tokens or recovery codes.
    """

    def __init__(self, secret: str, previous: Sequence[str] = ()) -> None:
        self._keys = [derive_key(key, "token-hmac") for key in (secret, *previous)]

    def digest(self, token: str) -> str:
        return hmac.new(self._keys[0], token.encode(), hashlib.sha256).hexdigest()

    def candidates(self, token: str) -> list[str]:
        """The digests `token` may be stored under (current key first)."""
        return [hmac.new(key, token.encode(), hashlib.sha256).hexdigest() for key in self._keys]

    def matches(self, token: str, digest: str) -> bool:
        return any(hmac.compare_digest(candidate, digest) for candidate in self.candidates(token))
