"""``python -m genai_commons_mxcloud.testing``: the fake service on a loopback port (see :mod:`.server`)."""

from __future__ import annotations

from .server import main

main()
