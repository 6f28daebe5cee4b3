"""Connection keys: reading each kind, a clear error for each kind of broken key, secrets kept
secret, the key store (mode 0600), and how keys become models."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from genai_commons import (
    ConfigurationError,
    Host,
    MissingCredentialsError,
    Modality,
    UnknownModelError,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons_mxcloud import ConnectionKey, KeyType, MalformedKeyError
from genai_commons_mxcloud.keystore import KeyStore
from genai_commons_mxcloud.testing import FakeMxCloud, make_key

TOKEN = "sk-very-secret-token"


def b64(document: object) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def test_a_text_generation_key() -> None:
    key = ConnectionKey.parse(make_key("TEXT_GENERATION", "https://genai.example.com/", TOKEN, name="My Claude"))
    assert key.key_type is KeyType.TEXT_GENERATION
    assert key.name == "my-claude"  # from keyName
    assert key.base_url == "https://genai.example.com"
    assert key.access_token.reveal() == TOKEN
    assert key.model.startswith("anthropic.claude") and key.schema_version == 3 and key.embeddings is None


def test_a_knowledge_base_key_carries_its_embeddings_key() -> None:
    key = ConnectionKey.parse(make_key("KNOWLEDGE_BASE", "https://kb.example.com", TOKEN, name="docs"), name="Handbook")
    assert key.name == "handbook" and key.key_type is KeyType.KNOWLEDGE_BASE
    assert key.embeddings is not None and key.embeddings.key_type is KeyType.EMBEDDINGS_GENERATION
    assert key.embeddings.name == "handbook/embeddings"
    assert key.embeddings.access_token.reveal() == f"{TOKEN}-embeddings"


def test_the_endpoint_url_wins_over_the_resource_base_url() -> None:
    text = make_key("EMBEDDINGS_GENERATION", "https://a.example.com", TOKEN, resourceBaseUrl="https://b.example.com")
    assert ConnectionKey.parse(text).base_url == "https://a.example.com"
    text = make_key("EMBEDDINGS_GENERATION", "https://a.example.com", TOKEN, endpointUrl=None)
    assert ConnectionKey.parse(text).base_url == "https://a.example.com"
    text = make_key(
        "EMBEDDINGS_GENERATION", "https://a.example.com", TOKEN, endpointUrl="", resourceBaseUrl="https://c.io"
    )
    assert ConnectionKey.parse(text).base_url == "https://c.io"


def test_keys_with_line_breaks_urlsafe_alphabet_or_no_padding_are_read() -> None:
    text = make_key("TEXT_GENERATION", "https://x.example.com", TOKEN)
    wrapped = "\n".join(text[i : i + 60] for i in range(0, len(text), 60)) + "\n"
    assert ConnectionKey.parse(wrapped).access_token.reveal() == TOKEN
    raw = base64.b64decode(text)
    assert ConnectionKey.parse(base64.urlsafe_b64encode(raw).decode().rstrip("=")).base_url == "https://x.example.com"


@pytest.mark.parametrize(
    ("text", "reason", "says"),
    [
        ("", "empty", "is empty"),
        ("   \n", "empty", "is empty"),
        ("not base64 at all!", "not_base64", "is not valid base64"),
        ('{"type": "TEXT_GENERATION"}', "not_base64", "looks like the JSON itself"),
        (base64.b64encode(b"\xff\xfe plain bytes").decode(), "not_json", "not a JSON document"),
        (base64.b64encode(b"[1, 2]").decode(), "not_json", "not an object"),
        (b64({"type": "TEXT_GENERATION", "endpointUrl": "https://x"}), "missing_fields", "lacks accessToken"),
        (b64({"type": "TEXT_GENERATION", "accessToken": "t"}), "missing_fields", "endpointUrl or resourceBaseUrl"),
        (b64({"accessToken": "t", "endpointUrl": "https://x"}), "missing_fields", "lacks type"),
        (b64({"type": "IMAGE_GENERATION", "accessToken": "t", "endpointUrl": "https://x"}), "unknown_type", "IMAGE"),
        (b64({"type": "TEXT_GENERATION", "accessToken": "t", "endpointUrl": "ftp://x"}), "bad_url", "not http"),
        (
            b64({"type": "KNOWLEDGE_BASE", "accessToken": "t", "endpointUrl": "https://x", "keyName": "k"}),
            "missing_fields",
            "without its embeddings key",
        ),
    ],
)
def test_each_kind_of_malformed_key_has_its_own_error(text: str, reason: str, says: str) -> None:
    with pytest.raises(MalformedKeyError) as info:
        ConnectionKey.parse(text, where="GENAI_MXCLOUD_KEY")
    assert info.value.reason == reason
    assert says in str(info.value) and "GENAI_MXCLOUD_KEY" in str(info.value)


def test_secrets_never_show_in_reprs_or_errors() -> None:
    text = make_key("KNOWLEDGE_BASE", "https://kb.example.com", TOKEN)
    key = ConnectionKey.parse(text)
    assert TOKEN not in repr(key) and text not in repr(key) and TOKEN not in str(key)
    broken = make_key("TEXT_GENERATION", "ftp://x", TOKEN)
    with pytest.raises(MalformedKeyError) as info:
        ConnectionKey.parse(broken)
    assert TOKEN not in str(info.value) and broken not in str(info.value)


def test_keys_from_the_environment_and_from_files(tmp_path: Path) -> None:
    one = make_key("TEXT_GENERATION", "https://x.example.com", "t1", name="one")
    two = make_key("EMBEDDINGS_GENERATION", "https://x.example.com", "t2", name="two")
    keys = ConnectionKey.from_env({"GENAI_MXCLOUD_KEY": f"{one}, {two}"})
    assert [k.name for k in keys] == ["one", "two"]
    assert ConnectionKey.from_env({}) == []
    file = tmp_path / "key.txt"
    file.write_text(one + "\n")
    assert ConnectionKey.from_file(file, name="from-file").name == "from-file"
    with pytest.raises(ValidationError, match=r"cannot read the key file .*missing\.txt'. No such file"):
        ConnectionKey.from_file(tmp_path / "missing.txt")
    file.write_text("garbage?")
    with pytest.raises(MalformedKeyError, match=r"key file .*key.txt' is not valid base64"):
        ConnectionKey.from_file(file)


def test_the_key_store_is_written_with_mode_0600_and_read_back(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "nested" / "keys.json")
    key = ConnectionKey.parse(make_key("TEXT_GENERATION", "https://x.example.com", TOKEN, name="claude"))
    assert store.add(key) is False
    assert store.add(key) is True  # replaced
    mode = stat.S_IMODE(os.stat(store.path).st_mode)
    assert mode == 0o600
    assert [k.name for k in store.load()] == ["claude"]
    assert [k.access_token.reveal() for k in store.load()] == [TOKEN]
    assert store.remove("claude") is True and store.remove("claude") is False
    assert list(store.load()) == [] and stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert not [p for p in store.path.parent.iterdir() if p.name.startswith(".keys-")]  # no temporary left
    store.path.write_text("{broken")
    with pytest.raises(ConfigurationError, match="is damaged"):
        list(store.load())


def test_keys_become_models_and_knowledge_bases(host: Host) -> None:
    models = {m.ref: m for m in host.models("mxcloud")}
    assert set(models) == {"mxcloud:claude", "mxcloud:cohere", "mxcloud:kb/embeddings"}
    claude = models["mxcloud:claude"]
    assert claude.supports_function_calling and claude.supports_streaming
    assert claude.input_modalities == {Modality.TEXT, Modality.IMAGE, Modality.DOCUMENT}
    cohere = models["mxcloud:cohere"]
    assert cohere.output_modality is Modality.EMBEDDINGS and cohere.max_batch_size == 96 and cohere.dimensions == 1024
    kb = host.knowledge_base("mxcloud:kb/handbook")
    assert (kb.name, kb.collection, kb.embedding_model) == ("kb/handbook", "handbook", models["mxcloud:kb/embeddings"])
    # with one knowledge-base key, the collection alone names it too
    assert host.knowledge_base("mxcloud:handbook").collection == "handbook"


def test_no_keys_is_missing_credentials_at_call_time_not_before(make_mx_host: Callable[..., Host]) -> None:
    host = make_mx_host(keys=[])
    assert host.models("mxcloud") == []  # discovery needs no key
    with pytest.raises(MissingCredentialsError, match="GENAI_MXCLOUD_KEY"):
        host.chat("mxcloud:claude", "hi")
    with pytest.raises(MissingCredentialsError):
        host.knowledge_base("mxcloud:docs")


def test_a_broken_key_is_reported_and_the_others_keep_working(
    make_mx_host: Callable[..., Host], keys: dict[str, str]
) -> None:
    host = make_mx_host(keys=[keys["claude"], "broken!"], environ={"GENAI_MXCLOUD_KEY": "also broken"})
    assert [m.ref for m in host.models("mxcloud")] == ["mxcloud:claude"]
    assert host.chat("mxcloud:claude", "still here").text == "You said: still here"
    with pytest.raises(ConfigurationError, match=r"keys\[2\]: .* is not valid base64.*GENAI_MXCLOUD_KEY"):
        host.chat("mxcloud:other", "hi")


def test_environment_keys_join_the_configured_ones(
    make_mx_host: Callable[..., Host], keys: dict[str, str], service: FakeMxCloud
) -> None:
    extra = service.issue_key("TEXT_GENERATION", name="haiku")
    host = make_mx_host(keys=[keys["claude"]], environ={"GENAI_MXCLOUD_KEY": extra})
    assert sorted(m.model_id for m in host.models("mxcloud")) == ["claude", "haiku"]
    assert host.chat("mxcloud:haiku", "from the environment").text == "You said: from the environment"


def test_key_files_and_the_key_store_are_sources(
    make_mx_host: Callable[..., Host], keys: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "claude.key").write_text(keys["claude"])
    store = KeyStore(tmp_path / "mx-keys.json")
    store.add(ConnectionKey.parse(keys["cohere"], name="stored"))
    host = make_mx_host(keys=[], key_files=["claude.key"], key_store="mx-keys.json")  # relative to the home
    assert sorted(m.model_id for m in host.models("mxcloud")) == ["claude", "stored"]
    assert len(host.embed("mxcloud:stored", "hello").first_vector()) == 16


def test_several_knowledge_base_keys_need_the_key_in_the_name(
    make_mx_host: Callable[..., Host], keys: dict[str, str], service: FakeMxCloud
) -> None:
    second = service.issue_key("KNOWLEDGE_BASE", name="other")
    host = make_mx_host(keys=[keys["kb"], second])
    assert host.knowledge_base("mxcloud:other/docs").embedding_model.model_id == "other/embeddings"  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="name the key and the collection, as mxcloud:KEY/docs"):
        host.knowledge_base("mxcloud:docs")


def test_there_is_no_image_generation(host: Host) -> None:
    assert "image" not in {c.value for c in host.providers()["mxcloud"].capabilities}
    with pytest.raises(UnsupportedCapabilityError, match="image"):
        host.generate_image("mxcloud:claude", "a lighthouse")


def test_unknown_models_are_unknown(host: Host) -> None:
    with pytest.raises(UnknownModelError):
        host.chat("mxcloud:nope", "hi")


def test_a_knowledge_base_of_an_unknown_key(host: Host) -> None:
    with pytest.raises(UnknownModelError, match="no knowledge-base key named 'claude' \\(known: kb\\)"):
        host.knowledge_base("mxcloud:claude/docs")
