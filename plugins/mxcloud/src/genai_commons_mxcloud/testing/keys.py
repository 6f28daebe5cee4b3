"""Connection keys for tests: the base64 JSON documents the portal would create."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

__all__ = ["make_key"]

_MODELS = {
    "TEXT_GENERATION": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "EMBEDDINGS_GENERATION": "cohere.embed-english-v3",
    "KNOWLEDGE_BASE": "",
}


def _document(key_type: str, base_url: str, token: str, name: str, model: str | None) -> dict[str, Any]:
    key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base_url}/{name}"))
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, base_url)),
        "name": name.replace("-", " ").title(),
        "type": key_type,
        "resourceBaseUrl": base_url,
        "endpointUrl": base_url,
        "accessToken": token,
        "architecture": "AWS",
        "model": _MODELS[key_type] if model is None else model,
        "keyName": name,
        "keyId": key_id,
        "environment": "test",
        "deepLinkUrl": "https://genai.home.mendix.com/p/resources",
        "apiKey": f"api-{key_id}",
        "schemaVersion": 3,
    }


def make_key(
    key_type: str,
    base_url: str,
    token: str,
    *,
    name: str = "test-key",
    model: str | None = None,
    embeddings_token: str | None = None,
    **overrides: Any,
) -> str:
    """A connection key (base64 text) of ``key_type`` (``TEXT_GENERATION``,
    ``EMBEDDINGS_GENERATION`` or ``KNOWLEDGE_BASE``) for the service at ``base_url``; a
    knowledge-base key carries an embeddings key with ``embeddings_token``. ``overrides`` replace
    or (with None) remove fields of the JSON document."""
    document = _document(key_type, base_url, token, name, model)
    if key_type == "KNOWLEDGE_BASE":
        inner = _document(
            "EMBEDDINGS_GENERATION", base_url, embeddings_token or f"{token}-embeddings", f"{name}-emb", None
        )
        document["embeddings"] = inner
    for field_name, value in overrides.items():
        if value is None:
            document.pop(field_name, None)
        else:
            document[field_name] = value
    return base64.b64encode(json.dumps(document).encode()).decode("ascii")
