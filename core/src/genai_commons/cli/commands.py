"""``genai plugins``, ``models``, ``chat``, ``embed``, ``image`` (filled in by the CLI work)."""
