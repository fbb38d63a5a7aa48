"""Sending email over SMTP with aiosmtplib: STARTTLS or TLS, a login from the tenant's
secrets, and a Message-ID derived from the caller's idempotency key, so a step retried after
a crash sends a message that mail systems recognise as the same one rather than a new one.

A host a workflow names itself is checked against the SSRF guard's policy before connecting
(the operator's configured host is trusted), so a step cannot probe internal mail ports.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Literal

import aiosmtplib

from auterity.core.outbound import NetworkPolicy, OutboundHttp, OutboundHttpError, ssrf_guard
from auterity.integrations.errors import IntegrationError, from_outbound

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class SmtpServer:
    host: str | None
    port: int = 587
    security: Security = "starttls"


@dataclass(frozen=True)
class SmtpLogin:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Email:
    to: tuple[str, ...]
    subject: str
    sender: str | None = None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    text: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class SentEmail:
    message_id: str
    accepted: list[str]
    refused: dict[str, str]
    response: str


def message_id(idempotency_key: str | None, sender: str) -> str:
    """`<digest@domain>` from the key (the same key, the same id), else a fresh one."""
    domain = sender.rpartition("@")[2].strip(" >") or "auterity.local"
    if not idempotency_key:
        return make_msgid(domain=domain)
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def build_message(email: Email, sender: str, msgid: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(email.to)
    if email.cc:
        message["Cc"] = ", ".join(email.cc)
    if email.reply_to:
        message["Reply-To"] = ", ".join(email.reply_to)
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = msgid
    # Bcc recipients get the message through the envelope only; no header names them.
    if email.text is not None:
        message.set_content(email.text)
        if email.html is not None:
            message.add_alternative(email.html, subtype="html")
    elif email.html is not None:
        message.set_content(email.html, subtype="html")
    for attachment in email.attachments:
        main, _, sub = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.content,
            maintype=main or "application",
            subtype=sub or "octet-stream",
            filename=attachment.filename,
        )
    return message


class EmailSender:
    def __init__(
        self,
        http: OutboundHttp,
        server: SmtpServer,
        *,
        timeout: float = 30.0,
        default_sender: str | None = None,
    ) -> None:
        # The outbound client lends its network policy (platform and tenant exceptions).
        self.http = http
        self.server = server
        self.timeout = timeout
        self.default_sender = default_sender

    async def send(
        self,
        email: Email,
        *,
        login: SmtpLogin | None = None,
        server: SmtpServer | None = None,
        idempotency_key: str | None = None,
        tenant_id: uuid.UUID | None = None,
    ) -> SentEmail:
        """Send `email` through `server` (a step's own, checked by the guard) or the
        configured one."""
        target = server or self.server
        if not target.host:
            raise IntegrationError(
                "no SMTP server: set AUTERITY_SMTP_HOST or give the step a `host`",
                kind="client_error",
            )
        sender = email.sender or self.default_sender
        if not sender:
            raise IntegrationError(
                "no sender: give `from` or set AUTERITY_SMTP_FROM", kind="client_error"
            )
        if server is not None:
            await self._check_host(target, tenant_id)
        message = build_message(email, sender, message_id(idempotency_key, sender))
        recipients = [a for _, a in getaddresses([*email.to, *email.cc, *email.bcc]) if a]
        try:
            refused, response = await aiosmtplib.send(
                message,
                sender=_address(sender),
                recipients=recipients,
                hostname=target.host,
                port=target.port,
                username=login.username if login else None,
                password=login.password if login else None,
                use_tls=target.security == "tls",
                start_tls=target.security == "starttls",
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPException as exc:
            raise smtp_error(exc, target) from None
        except OSError as exc:
            raise IntegrationError(
                f"SMTP {target.host}:{target.port}: {exc.strerror or exc}", kind="network"
            ) from None
        return SentEmail(
            message_id=str(message["Message-ID"]),
            accepted=[r for r in recipients if r not in refused],
            refused={r: f"{answer.code} {answer.message}" for r, answer in refused.items()},
            response=response,
        )

    async def _check_host(self, server: SmtpServer, tenant_id: uuid.UUID | None) -> None:
        assert server.host is not None
        policy = self.http.policy
        if tenant_id is not None and self.http.tenant_policies is not None:
            policy = (await self.http.tenant_policies(tenant_id) or NetworkPolicy()).union(policy)
        try:
            await ssrf_guard(server.host, server.port, policy, timeout=self.timeout)
        except OutboundHttpError as exc:
            raise from_outbound(exc, "SMTP") from None


def _address(value: str) -> str:
    parsed = getaddresses([value])
    return parsed[0][1] if parsed and parsed[0][1] else value


def smtp_error(exc: aiosmtplib.SMTPException, server: SmtpServer) -> IntegrationError:
    where = f"SMTP {server.host}:{server.port}"
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return IntegrationError(f"{where}: {exc.message}", kind="timeout")
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
        return IntegrationError(f"{where}: {exc.message}", kind="network")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = {r.recipient: f"{r.code} {r.message}" for r in exc.recipients}
        temporary = all(400 <= r.code < 500 for r in exc.recipients)
        return IntegrationError(
            f"{where} refused every recipient",
            kind="server_error" if temporary else "client_error",
            details={"refused": refused},
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # 4xx is "try again later" in SMTP (greylisting, a full queue); 5xx is final.
        kind = "server_error" if 400 <= exc.code < 500 else "client_error"
        label = "login failed" if isinstance(exc, aiosmtplib.SMTPAuthenticationError) else "refused"
        return IntegrationError(
            f"{where} {label}: {exc.code} {exc.message}",
            kind=kind,
            details={"code": exc.code, "message": exc.message},
        )
    return IntegrationError(f"{where}: {exc.message}", kind="client_error")
