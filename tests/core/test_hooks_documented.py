"""Every hook specification is documented in docs/hooks.md, with its kind and its parameters."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from genai_commons import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"
_HEADING = re.compile(r"^#{2,4} (genai_\w+)\s*$", re.MULTILINE)
_KIND = re.compile(r"\*\*(capability|discovery|event)\*\*")


def hook_specs() -> dict[str, object]:
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if name.startswith("genai_") and hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }


def documented_sections() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    matches = list(_HEADING.finditer(text))
    sections = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        body = text[match.end() : end]
        sections[match.group(1)] = re.split(r"^## ", body, flags=re.MULTILINE)[0]
    return sections


SPECS = hook_specs()


def test_there_are_hooks() -> None:
    assert len(SPECS) >= 20


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_is_documented(name: str) -> None:
    sections = documented_sections()
    assert name in sections, f"docs/hooks.md has no '## {name}' section"
    section = sections[name]
    spec = SPECS[name]
    kind = _KIND.search(inspect.getdoc(spec) or "")
    assert kind is not None, f"the docstring of {name} does not state its kind"
    documented_kind = _KIND.search(section)
    assert documented_kind is not None and documented_kind.group(1) == kind.group(1), (
        f"docs/hooks.md gives {name} another kind than its spec ({kind.group(1)})"
    )
    options = getattr(spec, f"{hookspecs.PROJECT}_spec")
    for flag in ("firstresult", "historic"):
        if options.get(flag):
            assert flag in section, f"docs/hooks.md does not say that {name} is {flag}"
    assert f"`{name}(" in section, f"docs/hooks.md does not show the signature of {name}"
    for parameter in inspect.signature(spec).parameters:  # type: ignore[arg-type]
        assert f"`{parameter}`" in section, f"docs/hooks.md does not describe {name}'s parameter {parameter!r}"


def test_no_documented_hook_is_missing_from_the_specs() -> None:
    stale = set(documented_sections()) - set(SPECS)
    assert not stale, f"docs/hooks.md documents hooks that do not exist: {sorted(stale)}"
