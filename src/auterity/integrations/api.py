"""Integration HTTP routes under the resource names the platform specification uses."""

from __future__ import annotations

from fastapi import APIRouter

sms = APIRouter(prefix="/api/sms", tags=["sms"])
voice = APIRouter(prefix="/api/voice", tags=["voice"])
whatsapp = APIRouter(prefix="/api/whatsapp", tags=["whatsapp"])
scrape = APIRouter(prefix="/api/scrape", tags=["browser"])
automate = APIRouter(prefix="/api/automate", tags=["browser"])
vectors = APIRouter(prefix="/api/vectors", tags=["vectors"])

routers = (sms, voice, whatsapp, scrape, automate, vectors)
