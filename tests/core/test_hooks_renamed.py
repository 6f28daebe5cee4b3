"""The second edition of the contract renamed the knowledge-base and model-list hooks: a plugin
that still implements a first-edition name is refused as it registers, naming the hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_commons import Config, Host, PluginError, hookimpl
from genai_commons.hookspecs import genai_drop_collection, genai_ingest_from_source, genai_models

FIRST_EDITION = ["genai_kb_drop", "genai_kb_sync", "genai_deployed_models", "genai_kb_list_chunks"]


@pytest.mark.parametrize("old", FIRST_EDITION)
def test_a_first_edition_hook_name_is_refused(old: str, tmp_path: Path) -> None:
    def implementation(**_: object) -> None:
        return None

    plugin = type("Old", (), {old: staticmethod(hookimpl(implementation))})()
    host = Host(Config.defaults(tmp_path), load_entry_points=False)
    try:
        with pytest.raises(PluginError, match=rf"{old}.*was renamed genai_\w+ \(see docs/hooks.md\)"):
            host.register(plugin, name="old")
        assert "old" not in host.plugins()
    finally:
        host.close()


def test_the_new_names_are_hookspecs() -> None:
    for spec in (genai_models, genai_ingest_from_source, genai_drop_collection):
        assert spec.__doc__
