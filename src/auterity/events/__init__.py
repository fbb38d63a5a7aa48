"""Event bus: transactional outbox, local dispatch, Redis Streams."""
