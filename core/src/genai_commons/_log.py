"""structlog loggers for the core and plugins.

Events are snake_case past tense with data as fields. Prompt and response text is logged only at
DEBUG; secrets never. Only applications configure structlog: when one has, these loggers follow
its configuration. When none has, a quiet default applies (warnings and errors, to stderr) rather
than structlog's development default that prints every level to stdout.

structlog itself is imported only when it can matter — the application imported it already, or a
warning must be printed — so that ``import genai_commons`` stays fast and a debug event on the hot
path costs a dictionary lookup when nobody listens.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_quiet: Any = None
_quiet_lock = threading.Lock()


def _structlog_configured() -> bool:
    if "structlog" not in sys.modules:
        return False
    # An import statement, not ``sys.modules["structlog"]``: while another thread is still
    # importing structlog, the entry is there half-initialised, and the import statement waits for
    # that thread to finish (the import system's per-module lock).
    import structlog  # noqa: PLC0415

    return bool(structlog.is_configured())


class _Logger:
    """A logger bound to a name. Once structlog is configured, events go through one structlog
    lazy proxy per logger, which follows later configuration (and is fast when the application
    sets ``cache_logger_on_first_use=True``, as structlog recommends in production)."""

    __slots__ = ("_name", "_proxy")

    def __init__(self, name: str) -> None:
        self._name = name
        self._proxy: Any = None

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if _structlog_configured():
            self._send(level, event, fields)
        elif level in ("warning", "error", "exception"):
            getattr(_quiet_logger(), level)(event, logger=self._name, **fields)

    def _send(self, level: str, event: str, fields: dict[str, Any]) -> None:
        """Through structlog, which the application configured."""
        if self._proxy is None:
            import structlog  # noqa: PLC0415

            proxy = structlog.get_logger(self._name)
            # With cache_logger_on_first_use the application fixed its loggers after first use;
            # keep the bound logger itself, whose filtered levels are no-ops.
            self._proxy = proxy.bind() if structlog.get_config()["cache_logger_on_first_use"] else proxy
        getattr(self._proxy, level)(event, **fields)

    def debug(self, event: str, **fields: Any) -> None:
        if _structlog_configured():
            self._send("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        if _structlog_configured():
            self._send("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit("error", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._emit("exception", event, fields)


def get_logger(name: str) -> _Logger:
    """The logger for ``name`` (use ``__name__``)."""
    return _Logger(name)


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _quiet_logger() -> Any:
    global _quiet  # noqa: PLW0603 - one shared default, built on first use
    with _quiet_lock:  # warnings are rare: the lock costs nothing that matters
        if _quiet is not None:
            return _quiet
        import structlog  # noqa: PLC0415

        _quiet = structlog.wrap_logger(
            structlog.PrintLogger(_CurrentStderr()),  # type: ignore[arg-type]
            wrapper_class=structlog.make_filtering_bound_logger(30),  # logging.WARNING
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.dev.ConsoleRenderer(colors=False),
            ],
        )
    return _quiet


def _plain(_logger: Any, method: str, event_dict: dict[str, Any]) -> str:
    """One plain line: ``warning: event_name (key=value, …)``, without time or traceback."""
    level = event_dict.pop("level", method)
    event = event_dict.pop("event", "")
    for key in ("timestamp", "logger", "exc_info", "exception", "stack_info"):
        event_dict.pop(key, None)
    fields = ", ".join(f"{key}={value}" for key, value in event_dict.items())
    return f"{level}: {event}" + (f" ({fields})" if fields else "")


def configure_logging(level: int | str = "WARNING", *, json: bool = False, plain: bool = False) -> None:
    """Configure structlog for an application (the ``genai`` command uses this): ``level`` and
    above to stderr, as JSON lines, as readable text with time stamps, or (``plain``) as one short
    line per event, as a command prints its warnings."""
    import logging  # noqa: PLC0415

    import structlog  # noqa: PLC0415

    if isinstance(level, str):
        level = logging.getLevelNamesMapping()[level.upper()]
    processors: list[Any] = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level]
    if plain:
        processors.append(_plain)
    else:
        renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
        processors += [
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
