"""WhatsApp through Meta's Cloud API: sending, and the signed inbound webhook."""
