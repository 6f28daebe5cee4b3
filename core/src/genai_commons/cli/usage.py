"""``genai usage report`` and ``genai usage cleanup`` (filled in by the usage work)."""
