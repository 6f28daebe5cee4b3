"""The fake's error answers."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError"]


class ApiError(Exception):
    """An error answer: status, the service's error type and message (JSON body)."""

    def __init__(self, status: int, kind: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {kind}: {message}")
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"type": self.kind, "message": self.message}
