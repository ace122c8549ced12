"""structlog, configured once at start-up: JSON off a terminal, bound context, redaction.

Modules call `structlog.get_logger()`; context such as `command_id` is bound
with `structlog.contextvars.bind_contextvars` so every line of a unit of work
carries it. The redaction processor is the second line of defence: secrets
should never be passed to a logger in the first place.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog

__all__ = ["REDACTED", "configure_logging", "redact"]

REDACTED = "[REDACTED]"

# Key names that hold secrets, wherever they appear (nested too).
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?$|secret|private_?key|priv_?key|api_?key|master_?key|hmac|"
    r"mnemonic|seed|authorization|credential|cookie|^signature$|^x-signature$|^kek$",
    re.IGNORECASE,
)
# user:password@ inside URLs, in any string value.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def redact(value: Any, key: str = "") -> Any:
    """Return value with secret-named keys and URL passwords replaced."""
    if key and _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\g<head>" + REDACTED + "@", value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(item) for item in value)
    return value


def _redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: redact(value, key) for key, value in event_dict.items()}


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger; call once from the composition root."""
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    level_no = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if as_json:
        # Render tracebacks to text before redaction, so URL passwords in them are masked too.
        shared.append(structlog.processors.format_exc_info)
    shared.append(_redact_processor)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (aio-pika, pymongo, aiohttp) log through the stdlib: same format, warning and up.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(level_no, logging.WARNING))
