"""Where step attempts run: in the driving process (local) or on Celery workers."""
