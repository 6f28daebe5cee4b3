"""A Request read from JSON can name only functions this program built as tools."""

from __future__ import annotations

import sys

import pytest

from genai_commons import Function, Request, ValidationError
from genai_commons.model.functions import prepare_arguments
from genai_commons.serialization import from_json, to_json


def lookup(key: str) -> str:
    """Look a key up."""
    return key


def test_a_registered_function_comes_back_with_its_callable() -> None:
    request = Request.from_prompt("x").with_function(lookup)
    restored = from_json(to_json(request), Request)
    assert isinstance(restored.tools[0], Function)
    assert restored.tools[0].callable is lookup


@pytest.mark.parametrize("reference", ["os:system", "subprocess:run", "builtins:eval", "not_a_module_xyz:fn"])
def test_a_document_cannot_name_arbitrary_code(reference: str) -> None:
    document = to_json(Request.from_prompt("x").with_function(lookup)).replace(f"{__name__}:lookup", reference)
    module = reference.partition(":")[0]
    was_imported = module in sys.modules
    with pytest.raises(ValidationError, match="is not a tool function of this program"):
        from_json(document, Request)
    assert (module in sys.modules) == was_imported  # nothing was imported on the document's say-so


def test_a_parameter_the_model_made_up_is_an_error() -> None:
    with pytest.raises(ValidationError, match="invented: Extra inputs are not permitted"):
        prepare_arguments(lookup, {"key": "a", "invented": 1})
