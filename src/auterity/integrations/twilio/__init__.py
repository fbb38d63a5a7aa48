"""Twilio SMS/MMS: sending through the Messages API and the signed inbound webhooks."""
