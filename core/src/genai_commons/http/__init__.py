"""The HTTP layer every HTTP provider shares: calls described once, run by a sync or async driver.

- :mod:`.calls` — :class:`Call`, :class:`Answer` and operations (generators of calls): no I/O;
- :mod:`.endpoint` — :class:`Endpoint`: where calls go, their credentials, how errors read;
- :mod:`.clients` — :class:`Clients` and :class:`ClientOptions`: pooled httpx clients, one async
  client per event loop, answer caps and deadlines;
- :mod:`.driver` — :class:`Driver`: runs operations and event streams, errors mapped and redacted;
- :mod:`.aio` — the async driver's calls and streams over aiohttp, when it is installed (the
  ``aiohttp`` extra), with the same errors as over httpx;
- :mod:`.errors` — :func:`retry_after`, :func:`status_error` and the mapping of transport failures.

See ``docs/plugin-authors.md`` for a complete provider written on it. Importing this package does not
load httpx: it loads with the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .calls import Answer, Call, Operation, one, run_all

if TYPE_CHECKING:
    from .clients import ClientOptions, Clients
    from .driver import Driver
    from .endpoint import Endpoint
    from .errors import StatusFailure, retry_after, status_error

__all__ = [
    "Answer",
    "Call",
    "ClientOptions",
    "Clients",
    "Driver",
    "Endpoint",
    "Operation",
    "StatusFailure",
    "one",
    "retry_after",
    "run_all",
    "status_error",
]

__getattr__ = lazy_exports(
    __name__,
    globals(),
    {
        "ClientOptions": "clients",
        "Clients": "clients",
        "Driver": "driver",
        "Endpoint": "endpoint",
        "StatusFailure": "errors",
        "retry_after": "errors",
        "status_error": "errors",
    },
)
