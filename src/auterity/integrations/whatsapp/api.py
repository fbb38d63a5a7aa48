"""`/api/whatsapp`: send a message, and the Cloud API webhook (handshake and deliveries).

The webhook takes no login: a delivery is trusted when `X-Hub-Signature-256` matches under
the tenant's WHATSAPP_APP_SECRET; one that does not changes nothing and answers 401.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from auterity.core.deps import runtime_of
from auterity.identity.deps import require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.integrations.credentials import read_credential
from auterity.integrations.deps import caller_secrets, events_of, messaging_of, secrets_of
from auterity.integrations.errors import IntegrationError
from auterity.integrations.inbound import (
    publish_once,
    signing_secret,
    tenant_by_slug,
    tenant_secrets,
)
from auterity.integrations.whatsapp import webhooks
from auterity.integrations.whatsapp.schemas import WhatsAppSend, WhatsAppSent
from auterity.integrations.whatsapp.service import APP_SECRET_SECRET, VERIFY_TOKEN_SECRET

whatsapp = APIRouter(prefix="/api/whatsapp", tags=["whatsapp"])
Sender = Annotated[Principal, require(Permission.WORKFLOW_RUN)]


@whatsapp.post("/messages", status_code=201, response_model=WhatsAppSent)
async def send_whatsapp(body: WhatsAppSend, request: Request, principal: Sender) -> WhatsAppSent:
    """Send a text, template or media message from the tenant's WhatsApp business number
    (the access token in the secret WHATSAPP_ACCESS_TOKEN unless the body names another)."""
    read = caller_secrets(request, principal.tenant_id, principal.label)
    try:
        token = await read_credential(
            read, body.access_token_secret, "the WhatsApp Cloud API access token"
        )
        sent = await messaging_of(request).whatsapp.send(
            token, body.phone_number_id, body.message(), tenant_id=principal.tenant_id
        )
    except IntegrationError as exc:
        raise exc.problem() from None
    return WhatsAppSent(message_id=sent.message_id, wa_id=sent.wa_id)


@whatsapp.get("/webhook/{tenant_slug}", response_class=Response)
async def verify_whatsapp_webhook(
    tenant_slug: str,
    request: Request,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=200)] = "",
) -> Response:
    """Meta's subscription handshake: echoes `hub.challenge` when the verify token matches."""
    tenant_id = await tenant_by_slug(runtime_of(request).db, tenant_slug, "WhatsApp")
    read = tenant_secrets(secrets_of(request), tenant_id, "whatsapp-webhook")
    expected = await signing_secret(read, VERIFY_TOKEN_SECRET, "WhatsApp")
    webhooks.verify_subscription(mode, token, expected)
    return Response(challenge, media_type="text/plain")


@whatsapp.post("/webhook/{tenant_slug}", status_code=200, response_class=Response)
async def receive_whatsapp(tenant_slug: str, request: Request) -> Response:
    """Deliveries: each message becomes a `whatsapp.received` event, each status a
    `whatsapp.status` event (event triggers start their workflows)."""
    tenant_id = await tenant_by_slug(runtime_of(request).db, tenant_slug, "WhatsApp")
    read = tenant_secrets(secrets_of(request), tenant_id, "whatsapp-webhook")
    app_secret = await signing_secret(read, APP_SECRET_SECRET, "WhatsApp")
    body = await request.body()
    webhooks.verify_hub_signature(app_secret, body, request.headers.get(webhooks.SIGNATURE_HEADER))
    received, statuses = webhooks.parse_delivery(body)
    bus = events_of(request)
    for data in received:
        await publish_once(bus, tenant_id, "whatsapp.received", str(data["message_id"]), data)
    for data in statuses:
        key = f"{data['message_id']}:{data['status']}"
        await publish_once(bus, tenant_id, "whatsapp.status", key, data)
    return Response(status_code=200)
