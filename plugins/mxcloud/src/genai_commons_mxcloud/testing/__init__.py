"""A fake Mendix Cloud GenAI service for tests, benchmarks and the documentation, written from
the protocol notes (``docs/mxcloud.md``): :class:`FakeMxCloud` answers requests (strict about
headers, paths and bodies, deterministic, failing on demand), :class:`FakeMxCloudServer` serves it
on a loopback port, and :func:`make_key` writes connection keys that point at it.

Nothing here is imported by the provider itself.
"""

from __future__ import annotations

from .keys import make_key
from .server import FakeMxCloudServer
from .service import FAULTS, FakeMxCloud, Reply

__all__ = ["FAULTS", "FakeMxCloud", "FakeMxCloudServer", "Reply", "make_key"]
