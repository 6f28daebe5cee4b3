"""structlog loggers for the core and plugins.

Events are snake_case past tense with data as fields. Prompt and response text is logged only at
DEBUG; secrets never. Only applications configure structlog: when one has, these loggers follow
its configuration. When none has, they use a quiet default (warnings and errors, to stderr),
rather than structlog's development default that prints every level to stdout.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_quiet: Any = None


def get_logger(name: str) -> Any:
    """A logger bound to ``name``; resolved lazily so that later configuration takes effect."""
    return structlog.get_logger(name) if structlog.is_configured() else _quiet_logger().bind(logger=name)


def _quiet_logger() -> Any:
    global _quiet  # noqa: PLW0603 - one shared default, built on first use
    if _quiet is None:
        _quiet = structlog.wrap_logger(
            structlog.PrintLogger(sys.stderr),
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.dev.ConsoleRenderer(colors=False),
            ],
        )
    return _quiet


def configure_logging(level: int | str = logging.WARNING, *, json: bool = False) -> None:
    """Configure structlog for an application (the ``genai`` command uses this): ``level`` and
    above to stderr, as JSON lines or as readable text."""
    if isinstance(level, str):
        level = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
