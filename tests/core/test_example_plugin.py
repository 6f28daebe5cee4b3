"""A third-party plugin, installed as its own distribution, is found and used with no change to the core.

The example (``tests/plugins/genai-commons-example``) is pip-installed into a fresh virtual
environment, next to the core; the ``genai`` command of that environment must list it and use it.
The new environment sees the development environment's packages (pluggy, attrs, hatchling, ...)
through a ``.pth`` file, so that nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "plugins" / "genai-commons-example"
CORE = ROOT / "core"

pytestmark = pytest.mark.skipif(
    sys.prefix == sys.base_prefix, reason="needs the project's virtual environment (to share its packages)"
)


@pytest.fixture(scope="module")
def example_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with genai-commons and genai-commons-example installed from source."""
    pytest.importorskip("hatchling", reason="the example is built with hatchling; pip install hatchling")
    base = tmp_path_factory.mktemp("example-env")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "_shared_dev_env.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in shared)
    )
    source = base / "genai-commons-example"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "dist"))
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-index", str(CORE), str(source)],
        check=False,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return env_dir


def genai(env_dir: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GENAI_", "PYTHON", "VIRTUAL_ENV"))}
    environ["GENAI_HOME"] = str(home)
    return subprocess.run(
        [str(env_dir / "bin" / "genai"), *args], capture_output=True, text=True, env=environ, check=False, timeout=60
    )


def run_json(env_dir: Path, home: Path, *args: str) -> object:
    result = genai(env_dir, home, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_plugin_is_discovered(example_env: Path, tmp_path: Path) -> None:
    plugins = run_json(example_env, tmp_path, "plugins")
    assert isinstance(plugins, list)
    example = next(p for p in plugins if p["name"] == "example")
    assert example["source"] == "entry point"
    assert example["version"] == "0.1.0"
    assert example["error"] is None
    assert set(example["capabilities"]) == {"chat", "chat_stream", "embed"}


def test_models_are_listed(example_env: Path, tmp_path: Path) -> None:
    models = run_json(example_env, tmp_path, "models", "--provider", "example")
    assert isinstance(models, list)
    assert {m["ref"] for m in models} == {"example:echo", "example:reverse", "example:embed"}


def test_chat_and_embed_go_through_the_plugin(example_env: Path, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[providers.example]\nprefix = "Heard:"\n')
    chat = run_json(example_env, tmp_path, "chat", "example:echo", "hello there")
    assert isinstance(chat, dict)
    assert chat["message"]["content"] == "Heard: hello there"
    assert (chat["input_tokens"], chat["output_tokens"], chat["model_id"]) == (2, 3, "echo")
    plain = genai(example_env, tmp_path, "chat", "example:reverse", "hello there")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == "there hello"
    streamed = genai(example_env, tmp_path, "chat", "--stream", "example:reverse", "one two three")
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout.strip() == "three two one"
    embedded = run_json(example_env, tmp_path, "embed", "example:embed", "hello world", "--dimensions", "16")
    assert isinstance(embedded, dict)
    (chunk,) = embedded["chunks"]["chunks"]
    assert chunk["input_text"] == "hello world" and len(chunk["vector"]) == 16
    assert sum(v * v for v in chunk["vector"]) == pytest.approx(1.0, abs=1e-5)
    assert embedded["input_tokens"] == 2


def test_plugin_can_be_blocked(example_env: Path, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[plugins]\nblock = ["example"]\n')
    result = genai(example_env, tmp_path, "chat", "example:echo", "hello")
    assert result.returncode != 0
    assert "no provider named 'example'" in result.stderr


def test_the_guide_shows_the_example_provider_as_it_is() -> None:
    guide = (ROOT / "docs" / "plugin-authors.md").read_text(encoding="utf-8")
    source = (EXAMPLE / "src" / "genai_commons_example" / "plugin.py").read_text(encoding="utf-8")
    assert f"```python no-run\n{source}```" in guide, "update the copy of plugin.py in docs/plugin-authors.md"
