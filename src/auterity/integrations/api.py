"""Integration HTTP routes under the resource names the platform specification uses."""

from __future__ import annotations

from fastapi import APIRouter

from auterity.integrations.email.api import email
from auterity.integrations.twilio.api import sms
from auterity.integrations.whatsapp.api import whatsapp

voice = APIRouter(prefix="/api/voice", tags=["voice"])
scrape = APIRouter(prefix="/api/scrape", tags=["browser"])
automate = APIRouter(prefix="/api/automate", tags=["browser"])
vectors = APIRouter(prefix="/api/vectors", tags=["vectors"])

routers = (sms, voice, whatsapp, email, scrape, automate, vectors)
