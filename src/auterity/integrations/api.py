"""Integration HTTP routes under the resource names the platform specification uses."""

from __future__ import annotations

from fastapi import APIRouter

from auterity.integrations.browser.api import automate, scrape
from auterity.integrations.email.api import email
from auterity.integrations.twilio.api import sms
from auterity.integrations.vectors.api import vectors
from auterity.integrations.whatsapp.api import whatsapp

voice = APIRouter(prefix="/api/voice", tags=["voice"])

routers = (sms, voice, whatsapp, email, scrape, automate, vectors)
