"""``genai_commons.redaction.redact``: what a server quoted back loses every secret, whole or by its
beginning, wherever it sits in the text; nothing else changes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from security_canaries import CANARIES, Finder

from genai_commons import Secret
from genai_commons.redaction import REDACTED, SHOWN, redact

SECRET = CANARIES["openai_api_key"]


def test_a_secret_and_any_beginning_longer_than_eight_characters_go() -> None:
    masked = f"{SECRET[:12]}****{SECRET[-4:]}"
    text = f'{{"error": "Incorrect API key provided: {masked}; was {SECRET}"}}'
    cleaned = redact(text, [Secret(SECRET)])
    assert SECRET[: SHOWN + 1] not in cleaned and cleaned.count(REDACTED) == 2
    assert cleaned.startswith('{"error": "Incorrect API key provided: ') and cleaned.endswith('"}')
    assert redact(f"prefix {SECRET[:SHOWN]}*** shown", [SECRET]) == f"prefix {SECRET[:SHOWN]}*** shown"


def test_nothing_else_changes() -> None:
    assert redact("no secret here", [SECRET, None, "", Secret("")]) == "no secret here"
    assert redact("short pin 1234 and 1234", ["1234"]) == f"short pin {REDACTED} and {REDACTED}"


@given(
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    cut=st.integers(min_value=SHOWN + 1, max_value=len(SECRET)),
    repeat=st.integers(min_value=1, max_value=3),
)
def test_any_placement_of_any_long_beginning_is_redacted(before: str, after: str, cut: int, repeat: int) -> None:
    text = (before + SECRET[:cut] + after) * repeat
    cleaned = redact(text, [SECRET, CANARIES["azure_api_key"]])
    assert not Finder({"key": SECRET})(cleaned)
    assert cleaned.count(REDACTED) >= repeat
