"""Structured logs (structlog): JSON or console, request id / tenant / user bound per request.

Standard-library loggers (uvicorn, sqlalchemy, alembic) go through the same renderer, and a
redaction step blanks any field whose name says it holds a secret.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from auterity.core.settings import Settings

_SECRET_NAME = re.compile(
    r"(pass(word)?|secret|token|authorization|api[_-]?key|cookie|credential|private)", re.I
)
_BEARER = re.compile(r"(?i)(bearer\s+|ak_[a-z0-9]+_)[A-Za-z0-9._~+/=-]{8,}")
REDACTED = "[redacted]"


def redact_value(value: str) -> str:
    """Blank bearer tokens and API keys that appear inside free text."""
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, value)


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if key != "event" and _SECRET_NAME.search(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact_value(value)
    return event_dict


def configure_logging(settings: Settings) -> None:
    """Install the structlog pipeline for this process; safe to call more than once."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Access lines are our own request log (with request id), not uvicorn's.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    httpx_logger = logging.getLogger("httpx")
    # One INFO line per outbound request doubles the log volume of the gateway and the
    # engine; their own access and step records already say what was called.
    httpx_logger.setLevel(logging.WARNING)
    if not any(isinstance(f, DropQueryStrings) for f in httpx_logger.filters):
        httpx_logger.addFilter(DropQueryStrings())


class DropQueryStrings(logging.Filter):
    """Cuts the query string from the URLs httpx logs with each request.

    An outbound call's query can carry a tenant's secret (an API key parameter); the method,
    host, path and status stay in the log line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                str(arg).split("?", 1)[0] + "?…"
                if type(arg).__name__ == "URL" and "?" in str(arg)
                else arg
                for arg in record.args
            )
        return True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
