"""SQLite and file errors of the store, mapped to genai_commons errors in one place."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from genai_commons import ConfigurationError, GenAIError, ProviderError, ServiceUnavailableError, ValidationError

_BUSY = ("database is locked", "database table is locked", "database is busy")
_TOO_COMPLEX = ("expression tree is too large", "too many sql variables", "parser stack overflow")


@contextmanager
def translated_errors(provider: str, database: Path) -> Iterator[None]:
    """Raise SQLite and file-system failures as :mod:`genai_commons.errors`, from the original."""
    try:
        yield
    except GenAIError:
        raise
    except sqlite3.OperationalError as exc:
        message = str(exc).lower()
        if any(text in message for text in _BUSY):
            raise ServiceUnavailableError(
                f"the knowledge base {database} stayed locked by another process's write; try again, or raise "
                "[providers.local] busy_timeout",
                provider=provider,
                code="SQLITE_BUSY",
                body=str(exc),
            ) from exc
        if any(text in message for text in _TOO_COMPLEX):
            raise ValidationError(f"the metadata filter is too large for the local store: {exc}") from exc
        raise ProviderError(
            f"the knowledge base {database} failed: {exc}; check the file and its directory (permissions, free space)",
            provider=provider,
            body=str(exc),
        ) from exc
    except sqlite3.DatabaseError as exc:  # corrupt, not a database, read-only, integrity
        raise ProviderError(
            f"the knowledge base {database} cannot be used: {exc}; restore it, or point [providers.local] database "
            "at another file",
            provider=provider,
            body=str(exc),
        ) from exc
    except PermissionError as exc:
        raise ConfigurationError(
            f"no permission to use {exc.filename or database}: fix its permissions or set [providers.local] database"
        ) from exc
    except OSError as exc:
        raise ProviderError(
            f"the knowledge base {database} failed: {exc.strerror or exc}", provider=provider, body=str(exc)
        ) from exc
