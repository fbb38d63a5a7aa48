"""`/api/sms`: send a text, and Twilio's inbound-message and status-callback webhooks.

The webhooks take no login: Twilio's signature under the tenant's TWILIO_AUTH_TOKEN is the
credential. A delivery that fails the check changes nothing and answers 401.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from auterity.core.deps import runtime_of
from auterity.identity.deps import require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.integrations.deps import caller_secrets, events_of, messaging_of, secrets_of
from auterity.integrations.errors import IntegrationError
from auterity.integrations.inbound import (
    publish_once,
    signing_secret,
    tenant_by_slug,
    tenant_secrets,
)
from auterity.integrations.twilio import webhooks
from auterity.integrations.twilio.schemas import SmsSend, SmsSent
from auterity.integrations.twilio.service import AUTH_TOKEN_SECRET, TwilioCredentials

sms = APIRouter(prefix="/api/sms", tags=["sms"])
Sender = Annotated[Principal, require(Permission.WORKFLOW_RUN)]
TWIML = "application/xml"


@sms.post("/messages", status_code=201, response_model=SmsSent)
async def send_sms(
    body: SmsSend,
    request: Request,
    principal: Sender,
    idempotency_key: Annotated[str | None, Header(max_length=150)] = None,
) -> SmsSent:
    """Send an SMS/MMS through the tenant's Twilio account (secrets TWILIO_ACCOUNT_SID and
    TWILIO_AUTH_TOKEN unless the body names others). `Idempotency-Key` is passed to Twilio,
    so a retried request sends the text once."""
    read = caller_secrets(request, principal.tenant_id, principal.label)
    try:
        credentials = await TwilioCredentials.read(
            read, body.account_sid_secret, body.auth_token_secret
        )
        sent = await messaging_of(request).sms.send(
            credentials,
            body.message(),
            idempotency_key=idempotency_key,
            tenant_id=principal.tenant_id,
        )
    except IntegrationError as exc:
        raise exc.problem() from None
    return SmsSent(
        sid=sent.sid,
        status=sent.status,
        to=sent.to,
        from_=sent.sender,
        num_segments=sent.num_segments,
    )


async def _verified(request: Request, tenant_slug: str) -> tuple[Any, webhooks.Fields]:
    """The tenant and the form fields of a delivery Twilio signed; nothing is read or done
    for one it did not."""
    runtime = runtime_of(request)
    tenant_id = await tenant_by_slug(runtime.db, tenant_slug, "Twilio")
    read = tenant_secrets(secrets_of(request), tenant_id, "twilio-webhook")
    auth_token = await signing_secret(read, AUTH_TOKEN_SECRET, "Twilio")
    body = await request.body()
    fields = webhooks.parse_form(body)
    webhooks.verify_twilio_signature(
        auth_token,
        _signed_url(request, runtime.settings.public_url),
        fields,
        request.headers.get(webhooks.SIGNATURE_HEADER),
        request.headers.get(webhooks.SIGNATURE_SETTINGS_HEADER),
    )
    return tenant_id, fields


def _signed_url(request: Request, public_url: str | None) -> str:
    """The URL Twilio called: behind a proxy the app sees another, so the public one."""
    if not public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public_url.rstrip('/')}{request.url.path}{query}"


@sms.post("/inbound/{tenant_slug}", response_class=Response)
async def receive_sms(tenant_slug: str, request: Request) -> Response:
    """Twilio's "A message comes in" webhook: publishes `sms.received` (event triggers start
    their workflows) and answers TwiML with no reply."""
    tenant_id, fields = await _verified(request, tenant_slug)
    data = webhooks.received_message(fields)
    await publish_once(
        events_of(request), tenant_id, "sms.received", str(data["message_sid"]), data
    )
    return Response(webhooks.empty_twiml(), media_type=TWIML)


@sms.post("/status/{tenant_slug}", status_code=204, response_class=Response)
async def receive_sms_status(tenant_slug: str, request: Request) -> Response:
    """Twilio's status callback (the `status_callback` of a send): publishes `sms.status`."""
    tenant_id, fields = await _verified(request, tenant_slug)
    data = webhooks.message_status(fields)
    key = f"{data['message_sid']}:{data['status']}"
    await publish_once(events_of(request), tenant_id, "sms.status", key, data)
    return Response(status_code=204)
