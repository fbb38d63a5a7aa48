"""The messaging integrations as one bundle, built once from the settings around one
SSRF-guarded outbound client: what the engine hands to actions and the API to routes."""

from __future__ import annotations

from dataclasses import dataclass

from auterity.core.outbound import OutboundHttp
from auterity.core.settings import Settings
from auterity.integrations.email.service import EmailSender, SmtpServer
from auterity.integrations.twilio.service import TwilioSms
from auterity.integrations.whatsapp.service import WhatsAppCloud


@dataclass(frozen=True)
class Messaging:
    sms: TwilioSms
    whatsapp: WhatsAppCloud
    email: EmailSender

    @classmethod
    def from_settings(cls, settings: Settings, http: OutboundHttp) -> Messaging:
        return cls(
            sms=TwilioSms(http, settings.twilio_api_base_url),
            whatsapp=WhatsAppCloud(
                http, settings.whatsapp_api_base_url, settings.whatsapp_api_version
            ),
            email=EmailSender(
                http,
                SmtpServer(
                    host=settings.smtp_host,
                    port=settings.smtp_port,
                    security=settings.smtp_security,
                ),
                timeout=settings.smtp_timeout_seconds,
                default_sender=settings.smtp_from,
            ),
        )
