"""``--tool`` for ``genai chat``: Python functions the model may call, named on the command line.

A tool is ``MODULE:FUNCTION`` (an importable module) or ``PATH.py:FUNCTION`` (a file of the
user's). Importing runs that code: it is the user's own choice on their own command line, the same
trust as ``python -m``. Functions named in JSON documents are never imported this way.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _load_module(spec: str) -> Any:
    if spec.endswith(".py"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise click.BadParameter(f"{spec!r}: no such file", param_hint="'--tool'")
        name = f"genai_cli_tools_{abs(hash(str(path.resolve())))}"
        loader = importlib.util.spec_from_file_location(name, path)
        if loader is None or loader.loader is None:  # pragma: no cover - a .py file always has a loader
            raise click.BadParameter(f"{spec!r} cannot be loaded", param_hint="'--tool'")
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def load_tool(reference: str) -> Callable[..., Any]:
    """The callable named by ``MODULE:FUNCTION`` or ``PATH.py:FUNCTION``."""
    module_spec, sep, qualname = reference.rpartition(":")
    if not sep or not module_spec or not qualname:
        raise click.BadParameter(f"{reference!r} must be MODULE:FUNCTION or PATH.py:FUNCTION", param_hint="'--tool'")
    try:
        target: Any = _load_module(module_spec)
    except click.BadParameter:
        raise
    except Exception as exc:  # the user's code failed to import: say so in one line
        raise click.BadParameter(
            f"cannot import {module_spec!r}: {type(exc).__name__}: {exc}", param_hint="'--tool'"
        ) from exc
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise click.BadParameter(f"{module_spec!r} has no {qualname!r}", param_hint="'--tool'")
    if not callable(target):
        raise click.BadParameter(f"{reference!r} is not callable", param_hint="'--tool'")
    return target  # type: ignore[no-any-return]
