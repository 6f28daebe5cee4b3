"""genai-commons-example: a small provider plugin written only against the public genai_commons API.

The entry point ``example = "genai_commons_example:ExampleProvider"`` names the class; each host
makes its own instance.
"""

from __future__ import annotations

from .plugin import ExampleProvider

__all__ = ["ExampleProvider"]
