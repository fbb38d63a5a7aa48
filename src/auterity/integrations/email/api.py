"""`/api/email`: send an email through the configured SMTP server or the caller's own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from auterity.identity.deps import require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.integrations.deps import caller_secrets, messaging_of
from auterity.integrations.email.credentials import smtp_login
from auterity.integrations.email.schemas import EmailSend, EmailSent
from auterity.integrations.errors import IntegrationError

email = APIRouter(prefix="/api/email", tags=["email"])
Sender = Annotated[Principal, require(Permission.WORKFLOW_RUN)]


@email.post("/messages", status_code=201, response_model=EmailSent)
async def send_email(
    body: EmailSend,
    request: Request,
    principal: Sender,
    idempotency_key: Annotated[str | None, Header(max_length=150)] = None,
) -> EmailSent:
    """Send an email (login from the secrets SMTP_USERNAME/SMTP_PASSWORD when stored). With
    `Idempotency-Key`, a repeated request carries the same Message-ID."""
    read = caller_secrets(request, principal.tenant_id, principal.label)
    try:
        login = await smtp_login(read, body.username_secret, body.password_secret)
        sent = await messaging_of(request).email.send(
            body.email(),
            login=login,
            server=body.server(),
            idempotency_key=f"{principal.tenant_id}:{idempotency_key}" if idempotency_key else None,
            tenant_id=principal.tenant_id,
        )
    except IntegrationError as exc:
        raise exc.problem() from None
    return EmailSent(message_id=sent.message_id, accepted=sent.accepted, refused=sent.refused)
