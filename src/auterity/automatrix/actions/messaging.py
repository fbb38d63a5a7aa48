"""`sms.send`, `whatsapp.send` and `email.send`: thin actions over the messaging
integrations (`auterity.integrations.twilio|whatsapp|email`), which own the wire formats.

Credentials are read by secret name from the run's tenant (conventional names by default,
another name per step), never taken as values; what is read is redacted from the step.
"""

from __future__ import annotations

from auterity.automatrix.actions.base import Action, ActionContext
from auterity.integrations.credentials import read_credential
from auterity.integrations.email.credentials import smtp_login
from auterity.integrations.email.schemas import EmailSend, EmailSent
from auterity.integrations.twilio.schemas import SmsSend, SmsSent
from auterity.integrations.twilio.service import TwilioCredentials
from auterity.integrations.whatsapp.schemas import WhatsAppSend, WhatsAppSent


class SendSms(Action[SmsSend, SmsSent]):
    name = "sms.send"
    description = (
        "Sends an SMS/MMS through Twilio with the tenant's TWILIO_ACCOUNT_SID and "
        "TWILIO_AUTH_TOKEN secrets (or the secrets the step names)."
    )
    Input = SmsSend
    Output = SmsSent
    idempotent = False
    idempotency = "sends I-Twilio-Idempotency-Token"
    reaches_outside = True

    async def run(self, ctx: ActionContext, params: SmsSend) -> SmsSent:
        credentials = await TwilioCredentials.read(
            ctx.secret, params.account_sid_secret, params.auth_token_secret
        )
        sent = await ctx.integrations().sms.send(
            credentials,
            params.message(),
            idempotency_key=ctx.idempotency_key,
            tenant_id=ctx.tenant_id,
        )
        ctx.log(f"Twilio accepted {sent.sid} to {params.to}: {sent.status}")
        return SmsSent(
            sid=sent.sid,
            status=sent.status,
            to=sent.to,
            from_=sent.sender,
            num_segments=sent.num_segments,
        )


class SendWhatsApp(Action[WhatsAppSend, WhatsAppSent]):
    name = "whatsapp.send"
    description = (
        "Sends a WhatsApp text, template or media message through Meta's Cloud API with the "
        "tenant's WHATSAPP_ACCESS_TOKEN secret (or the secret the step names)."
    )
    Input = WhatsAppSend
    Output = WhatsAppSent
    idempotent = False
    # The Cloud API takes no idempotency key: a step retried after its send reached Meta
    # (a crash, a timeout) can send twice. Throttling answers are safe to retry.
    idempotency = "not supported by the WhatsApp Cloud API"
    reaches_outside = True

    async def run(self, ctx: ActionContext, params: WhatsAppSend) -> WhatsAppSent:
        token = await read_credential(
            ctx.secret, params.access_token_secret, "the WhatsApp Cloud API access token"
        )
        sent = await ctx.integrations().whatsapp.send(
            token, params.phone_number_id, params.message(), tenant_id=ctx.tenant_id
        )
        ctx.log(f"WhatsApp accepted {sent.message_id} to {params.to}")
        return WhatsAppSent(message_id=sent.message_id, wa_id=sent.wa_id)


class SendEmail(Action[EmailSend, EmailSent]):
    name = "email.send"
    description = (
        "Sends an email over SMTP (AUTERITY_SMTP_HOST or the step's own server), logging in "
        "with the tenant's SMTP_USERNAME/SMTP_PASSWORD secrets when stored."
    )
    Input = EmailSend
    Output = EmailSent
    idempotent = False
    idempotency = "Message-ID derived from the idempotency key"
    reaches_outside = True

    async def run(self, ctx: ActionContext, params: EmailSend) -> EmailSent:
        login = await smtp_login(ctx.secret, params.username_secret, params.password_secret)
        sent = await ctx.integrations().email.send(
            params.email(),
            login=login,
            server=params.server(),
            idempotency_key=ctx.idempotency_key,
            tenant_id=ctx.tenant_id,
        )
        ctx.log(f"sent {sent.message_id} to {len(sent.accepted)} recipient(s)")
        if sent.refused:
            ctx.log(f"refused: {', '.join(sorted(sent.refused))}")
        return EmailSent(message_id=sent.message_id, accepted=sent.accepted, refused=sent.refused)
