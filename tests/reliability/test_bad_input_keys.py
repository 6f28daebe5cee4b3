"""Malformed Mendix Cloud connection keys, from every place a key comes from: ``genai mxcloud key
import`` (argument, standard input, ``--file``, ``--from-env``), the ``keys`` setting and
``GENAI_MXCLOUD_KEY``. Each way a key can be broken gives one line that says which way, a non-zero
exit status, and never the key or its token in any output.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from badinput_cli import LOG_LINE, assert_error, clean_env, invoke, secrets_absent
from hypothesis import given
from hypothesis import strategies as st

from genai_commons import ValidationError
from genai_commons_mxcloud import ConnectionKey, MalformedKeyError
from genai_commons_mxcloud.testing import make_key

TOKEN = "canary-mx-token-7f3a9c2e"
GOOD = make_key("TEXT_GENERATION", "https://genai.example.com", TOKEN, name="claude")


def encode(document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def key_document(key_type: str = "TEXT_GENERATION", **overrides: Any) -> dict[str, Any]:
    """The JSON inside a good key, with fields replaced (or removed, with None)."""
    data: dict[str, Any] = json.loads(base64.b64decode(make_key(key_type, "https://genai.example.com", TOKEN)))
    for name, value in overrides.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


#: name: (key text, reason, a fragment of the message).
MALFORMED: dict[str, tuple[str, str, str]] = {
    "empty": ("", "empty", "is empty"),
    "blank": (" \n\t ", "empty", "is empty"),
    "not base64": ("this is not a key!", "not_base64", "is not valid base64"),
    "the JSON itself": (json.dumps(key_document()), "not_base64", "looks like the JSON itself"),
    "in quotes": (f'"{GOOD}"', "not_base64", "is not valid base64"),
    "cut short": (GOOD[: len(GOOD) // 2], "not_json", "not a JSON document"),
    "binary inside": (base64.b64encode(b"\x00\xff\xfe binary").decode(), "not_json", "not a JSON document"),
    "a JSON array": (encode([TOKEN]), "not_json", "JSON but not an object"),
    "a JSON string": (encode(TOKEN), "not_json", "JSON but not an object"),
    "no token": (encode(key_document(accessToken=None)), "missing_fields", "lacks accessToken"),
    "no url": (encode(key_document(endpointUrl=None, resourceBaseUrl=None)), "missing_fields", "endpointUrl"),
    "no type": (encode(key_document(type=None)), "missing_fields", "lacks type"),
    "token not text": (encode(key_document(accessToken={"value": TOKEN})), "missing_fields", "not text"),
    "unknown type": (encode(key_document(type="IMAGE_GENERATION")), "unknown_type", "'IMAGE_GENERATION'"),
    "type not text": (encode(key_document(type=["TEXT_GENERATION"])), "unknown_type", "<list>"),
    "ftp url": (encode(key_document(endpointUrl="ftp://genai.example.com")), "bad_url", "not http(s)"),
    "url not text": (encode(key_document(endpointUrl=["https://x"])), "bad_url", "not http(s)"),
    "knowledge base without embeddings": (
        encode(key_document("KNOWLEDGE_BASE", embeddings=None)),
        "missing_fields",
        "without its embeddings key",
    ),
    "knowledge base with a chat key inside": (
        encode(key_document("KNOWLEDGE_BASE", embeddings=key_document())),
        "unknown_type",
        "not EMBEDDINGS_GENERATION",
    ),
    "no name": (
        encode(key_document(keyName=None, name=None, keyId=None, id=None)),
        "missing_fields",
        "has no keyName",
    ),
}


def assert_secret_kept(text: str, key: str) -> None:
    assert TOKEN not in text, "the key's token appeared"
    if key.strip():
        assert key.strip() not in text, "the key appeared"


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_each_malformation_has_its_reason_and_keeps_the_secret(case: str) -> None:
    text, reason, fragment = MALFORMED[case]
    with pytest.raises(MalformedKeyError) as info:
        ConnectionKey.parse(text, where="GENAI_MXCLOUD_KEY")
    assert info.value.reason == reason
    message = str(info.value)
    assert fragment in message and "GENAI_MXCLOUD_KEY " in message and "\n" not in message
    assert_secret_kept(message + repr(info.value), text)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "config.toml").write_text('[providers.mxcloud]\nkey_store = "mxcloud-keys.json"\n')
    return tmp_path


@pytest.mark.parametrize("route", ["argument", "stdin", "file", "env"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_key_import_refuses_each_malformation_in_one_line(home: Path, case: str, route: str) -> None:
    text, _reason, fragment = MALFORMED[case]
    env = clean_env(home)
    if route == "argument":
        result, where = invoke(["mxcloud", "key", "import", text], env=env), "the key "
    elif route == "stdin":
        result, where = invoke(["mxcloud", "key", "import", "-"], env=env, input=text), "standard input "
    elif route == "file":
        file = home / "key.txt"
        file.write_text(text)
        result, where = invoke(["mxcloud", "key", "import", "--file", str(file)], env=env), f"'{file}' "
    else:
        env["GENAI_MXCLOUD_KEY"] = text
        result, where = invoke(["mxcloud", "key", "import", "--from-env"], env=env), "GENAI_MXCLOUD_KEY "
    line = assert_error(result, 1, fragment, logs=route == "env")
    assert where in line
    assert_secret_kept(result.output, text)
    assert not (home / "mxcloud-keys.json").exists(), "nothing is stored"


def test_an_unreadable_key_file_is_one_line(home: Path) -> None:
    env = clean_env(home)
    (home / "binary.key").write_bytes(b"\xff\xfe\x00\x01")
    assert_error(
        invoke(["mxcloud", "key", "import", "--file", str(home / "binary.key")], env=env), 1, "not a text file"
    )
    missing = home / "absent.key"
    assert_error(invoke(["mxcloud", "key", "import", "--file", str(missing)], env=env), 1, "No such file")
    assert_error(invoke(["mxcloud", "key", "import", "--file", str(home)], env=env), 2, "is a directory")
    assert_error(invoke(["mxcloud", "key", "import", GOOD, "--from-env"], env=env), 2, "exactly one")
    assert_error(invoke(["mxcloud", "key", "import", GOOD, "--name", "!!!"], env=env), 1, "empty key name")


@pytest.mark.parametrize("case", ["not base64", "the JSON itself", "token not text", "unknown type", "ftp url"])
def test_configured_and_environment_keys_are_reported_when_used(home: Path, case: str) -> None:
    """A broken key in the settings or the environment is left out and reported; a call that
    needed it fails with one line naming every key that could not be read."""
    text, _reason, fragment = MALFORMED[case]
    (home / "config.toml").write_text(f"[providers.mxcloud]\nkeys = [{json.dumps(text)}]\n")
    env = clean_env(home, GENAI_MXCLOUD_KEY=text)
    called = invoke(["chat", "mxcloud:claude", "hello"], env=env)
    line = assert_error(called, 1, "some keys could not be read", "[providers.mxcloud] keys[1]", fragment, logs=True)
    assert "GENAI_MXCLOUD_KEY" in line
    assert_secret_kept(called.output, text)
    listed = invoke(["mxcloud", "key", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output  # documented: the others keep working, problems listed
    problems = json.loads(listed.stdout)["problems"]
    assert {p["source"] for p in problems} == {"[providers.mxcloud] keys[1]", "GENAI_MXCLOUD_KEY"}
    assert all(LOG_LINE.match(line) for line in listed.stderr.splitlines())
    assert_secret_kept(listed.output, text)
    secrets_absent(listed, TOKEN)


# -- any document inside a key --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["type", "accessToken", "endpointUrl", "resourceBaseUrl", "keyName", "name", "keyId", "id", "embeddings"]


@st.composite
def key_texts(draw: st.DrawFn) -> str:
    """A key whose document is a good one with some fields dropped or replaced by any JSON."""
    document = key_document(draw(st.sampled_from(["TEXT_GENERATION", "EMBEDDINGS_GENERATION", "KNOWLEDGE_BASE"])))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        if draw(st.booleans()):
            document.pop(name, None)
        else:
            document[name] = draw(json_values)
    raw = json.dumps(document).encode()
    encoder = draw(st.sampled_from([base64.b64encode, base64.urlsafe_b64encode]))
    text = encoder(raw).decode()
    return draw(st.sampled_from([text, text.rstrip("="), " " + text + "\n", text[: draw(st.integers(0, len(text)))]]))


@given(st.one_of(key_texts(), st.text(max_size=60), st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode())))
def test_any_key_text_reads_or_fails_with_a_validation_error_that_keeps_the_secret(text: str) -> None:
    try:
        key = ConnectionKey.parse(text)
    except ValidationError as exc:
        assert "\n" not in str(exc)
        assert TOKEN not in str(exc)
        if len(text.strip()) > 8:
            assert text.strip() not in str(exc)
    else:
        assert TOKEN not in repr(key) and text.strip() not in repr(key)
        assert key.base_url.startswith(("https://", "http://")) and key.name


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["mxcloud", "key", "test", "nosuch"], 1, "no key named 'nosuch'"),
        (["mxcloud", "key", "remove", "nosuch"], 1, "no key named 'nosuch'"),
        (["mxcloud", "key", "test"], 2, "Missing argument 'NAME'"),
        (["mxcloud", "key", "list", "--yaml"], 2, "No such option '--yaml'"),
        (["mxcloud", "quota", "--month", "1"], 2, "No such option '--month'"),
        (["mxcloud", "keys"], 2, "No such command 'keys'"),
    ],
)
def test_the_other_mxcloud_commands_refuse_bad_arguments_in_one_line(
    home: Path, args: list[str], code: int, fragment: str
) -> None:
    assert_error(invoke(args, env=clean_env(home)), code, fragment)
