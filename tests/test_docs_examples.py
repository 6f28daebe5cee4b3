"""Runs the Python examples of the documentation, so that the docs cannot drift from the code.

Every fenced block whose language is ``python`` (or ``py``) in every ``docs/**/*.md`` file and in
the root ``README.md`` runs: a file's blocks in order, in one fresh module namespace per file, so a
later block may use what an earlier one defined. One test per file; files are found at run time.

Convention for code that must not run (it needs credentials, a network or a server):

- fence it as ```` ```python no-run ````, or
- put the line ``<!-- no-run -->`` just before the fence (blank lines between are allowed).

Blocks in other languages (``console``, ``toml``, ``json``, ``text``, ``pycon``) never run.

Each file runs with ``GENAI_HOME`` set to an empty temporary directory (other ``GENAI_*``
variables unset) and the current directory set to another temporary directory. Top-level
``await`` works; a file's blocks share one event loop. The namespace is registered as a module,
so functions defined in an example can travel through the JSON form (``module:qualname``).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_RUN = "no-run"
NO_RUN_MARKER = "<!-- no-run -->"
PYTHON = frozenset({"python", "py", "python3"})
_OPENING = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced Python block: the line of its first code line (1-based), its code, whether it runs."""

    line: int
    code: str
    runs: bool


def python_blocks(markdown: str) -> list[Block]:
    """The ``python`` fenced blocks of a Markdown text, in order."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _OPENING.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], opening["indent"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        words = opening["info"].split()
        if words and words[0].lower() in PYTHON:
            before = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
            body = [
                line[len(indent) :] if line.startswith(indent) else line.lstrip() for line in lines[index + 1 : end]
            ]
            runs = NO_RUN not in words[1:] and before != NO_RUN_MARKER
            blocks.append(Block(line=index + 2, code="\n".join(body) + "\n", runs=runs))
        index = end + 1
    return blocks


def documentation_files() -> list[Path]:
    """``README.md`` and every ``docs/**/*.md`` that has a Python block to run."""
    files = sorted((ROOT / "docs").rglob("*.md")) if (ROOT / "docs").is_dir() else []
    if (ROOT / "README.md").is_file():
        files.insert(0, ROOT / "README.md")
    return [path for path in files if any(block.runs for block in python_blocks(path.read_text(encoding="utf-8")))]


def _module_name(path: Path) -> str:
    return "docs_example_" + re.sub(r"\W", "_", path.relative_to(ROOT).with_suffix("").as_posix())


@pytest.mark.parametrize("path", documentation_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_documentation_examples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("GENAI_")]:
        monkeypatch.delenv(name)
    home = tmp_path / "genai-home"
    home.mkdir()
    monkeypatch.setenv("GENAI_HOME", str(home))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)

    module = types.ModuleType(_module_name(path))
    module.__file__ = str(path)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    relative = path.relative_to(ROOT).as_posix()
    with asyncio.Runner() as runner:
        for block in python_blocks(path.read_text(encoding="utf-8")):
            if not block.runs:
                continue
            # Pad with blank lines so that tracebacks give the line numbers of the Markdown file.
            source = "\n" * (block.line - 1) + block.code
            try:
                code = compile(source, str(path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
                result = eval(code, module.__dict__)
                if code.co_flags & inspect.CO_COROUTINE:
                    runner.run(result)
            except BaseException as exc:
                exc.add_note(f"in the python block at line {block.line} of {relative}")
                raise


# -- the collector itself ----------------------------------------------------------------------

SAMPLE = """\
# Title

```python
x = 1
```

```console
$ genai chat
```

```python no-run
raise SystemExit("needs a server")
```

<!-- no-run -->

```python
raise SystemExit("marked")
```

- a list item:

  ```py
  y = x + 1
  ```

~~~~python
z = '''
```
'''
~~~~

```pycon
>>> 1
```
"""


def test_python_blocks_follow_the_convention() -> None:
    blocks = python_blocks(SAMPLE)
    assert [(b.line, b.runs) for b in blocks] == [(4, True), (12, False), (18, False), (24, True), (28, True)]
    assert blocks[0].code == "x = 1\n"
    assert blocks[3].code == "y = x + 1\n"  # the list item's indentation is removed
    assert blocks[4].code == "z = '''\n```\n'''\n"  # a longer fence may hold a shorter one


def test_documentation_files_are_found() -> None:
    for path in documentation_files():
        assert path.suffix == ".md"
        assert path == ROOT / "README.md" or (ROOT / "docs") in path.parents
