"""Integration HTTP routes under the resource names the platform specification uses."""

from __future__ import annotations

from fastapi import APIRouter

from auterity.integrations.browser.api import automate, scrape
from auterity.integrations.vectors.api import vectors

sms = APIRouter(prefix="/api/sms", tags=["sms"])
voice = APIRouter(prefix="/api/voice", tags=["voice"])
whatsapp = APIRouter(prefix="/api/whatsapp", tags=["whatsapp"])

routers = (sms, voice, whatsapp, scrape, automate, vectors)
