"""The key store: imported connection keys in one JSON file, readable by its owner only.

The file is ``mxcloud-keys.json`` under the genai home unless ``[providers.mxcloud] key_store``
names another (under the home unless absolute; ``""`` keeps no store), so that the portal's keys
can be imported before anything is configured. It is written only by an import or a removal.
Writes are atomic (a new file created with mode 0600, then renamed over the old one), the file
is set to 0600 whenever it is written, and the directories made for it are made with mode 0700
(one that exists keeps its own). The file holds the keys' base64 text, keyed by name::

    {"version": 1, "keys": {"my-claude": {"key": "eyJ…", "imported": "2025-01-31T10:00:00+00:00"}}}
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from genai_commons import ConfigurationError, get_logger

from .keys import ConnectionKey

__all__ = ["KeyStore"]

log = get_logger(__name__)

_VERSION = 1


class KeyStore:
    """One key-store file; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"KeyStore({str(self.path)!r})"

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the key store {str(self.path)!r}: {exc.strerror}; set [providers.mxcloud] key_store "
                "(or GENAI_MXCLOUD_KEY_STORE) to a file you can read and write"
            ) from exc
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            log.warning("key_store_readable_by_others", path=str(self.path), mode=oct(mode))
        try:
            data = json.loads(text)
            keys = data["keys"]
            if not isinstance(keys, dict):
                raise TypeError
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ConfigurationError(
                f"the key store {str(self.path)!r} is damaged: remove it and import the keys again"
            ) from None
        return {str(name): dict(entry) for name, entry in keys.items() if isinstance(entry, dict)}

    def load(self) -> Iterator[ConnectionKey]:
        """The stored keys, each under its stored name."""
        for name, entry in sorted(self._read().items()):
            yield ConnectionKey.parse(entry.get("key", ""), name=name, where=f"key {name!r} of the key store")

    def names(self) -> list[str]:
        return sorted(self._read())

    def add(self, key: ConnectionKey) -> bool:
        """Store ``key`` under its name; whether it replaced a key of that name."""
        entries = self._read()
        replaced = key.name in entries
        entries[key.name] = {"key": key.encoded.reveal(), "imported": datetime.now(UTC).isoformat(timespec="seconds")}
        self._write(entries)
        return replaced

    def _make_directory(self) -> None:
        """The file's directory, and those above it, made readable by their owner only (0700)."""
        missing = [d for d in (self.path.parent, *self.path.parent.parents) if not d.exists()]
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=0o700)
                directory.chmod(0o700)  # whatever the umask
            except FileExistsError:  # made by another process meanwhile
                continue
            except OSError as exc:
                raise self._unwritable(f"cannot make the directory {str(directory)!r}", exc) from exc

    def _unwritable(self, what: str, exc: OSError) -> ConfigurationError:
        return ConfigurationError(
            f"{what} for the key store: {exc.strerror or exc}; set [providers.mxcloud] key_store "
            "(or GENAI_MXCLOUD_KEY_STORE) to a file in a directory you can write"
        )

    def remove(self, name: str) -> bool:
        """Remove the key of that name; whether there was one."""
        entries = self._read()
        if entries.pop(name, None) is None:
            return False
        self._write(entries)
        return True

    def _write(self, entries: dict[str, dict[str, str]]) -> None:
        self._make_directory()
        text = json.dumps({"version": _VERSION, "keys": entries}, indent=2, sort_keys=True) + "\n"
        try:
            descriptor, temporary = tempfile.mkstemp(prefix=".keys-", dir=self.path.parent)  # mode 0600
        except OSError as exc:
            raise self._unwritable(f"cannot write {str(self.path)!r}", exc) from exc
        try:
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException as exc:
            Path(temporary).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise self._unwritable(f"cannot write {str(self.path)!r}", exc) from exc
            raise
        log.info("key_store_written", path=str(self.path), keys=len(entries))
