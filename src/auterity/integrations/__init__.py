"""Integrations: Twilio SMS/voice, WhatsApp, browser automation, vectors, HTTP and email."""
