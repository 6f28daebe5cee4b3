# Shared by scripts/test and scripts/demo: create .venv and install the workspace into it.
VENV="${GENAI_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  # torch's CPU build before anything pulls torch in (genai-commons-local, through
  # sentence-transformers): a plain install resolves to the CUDA build, several GB. The pin matches
  # the local CPU wheel (2.13.0+cpu); a no-op once installed.
  "$VENV/bin/python" -m pip install --quiet torch==2.13.0
  echo "== installing (pinned by constraints.txt)"
  local packages=(-e ./core)
  for plugin in plugins/*/; do
    [ -f "$plugin/pyproject.toml" ] && packages+=(-e "./$plugin")
  done
  "$VENV/bin/python" -m pip install --quiet -c constraints.txt "${packages[@]}" ".[dev]"
}
