"""The SMTP login from the tenant's secrets: none when the user secret is not stored."""

from __future__ import annotations

from auterity.integrations.credentials import SecretReader, read_credential
from auterity.integrations.email.service import SmtpLogin


async def smtp_login(
    read: SecretReader, username_secret: str, password_secret: str
) -> SmtpLogin | None:
    username = await read(username_secret)
    if not username:
        return None
    password = await read_credential(read, password_secret, "the SMTP password")
    return SmtpLogin(username, password)
