"""``python -m genai_commons_openai.testing``: serve the fake OpenAI API on a loopback port."""

from .server import main

main()
