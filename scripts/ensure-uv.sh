#!/usr/bin/env bash
# Print the path of a usable `uv`, installing it from PyPI first when it is missing.
# Tries, in order: uv on PATH; ~/.local/bin/uv; `pip install --user uv`; a private venv
# under ~/.cache/lectern/uv (for an externally managed Python). Only Python 3 is needed.
# Used by the Makefile (UV) and by scripts/bootstrap.sh; progress goes to stderr.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

found() { printf '%s\n' "$1"; exit 0; }

if command -v uv >/dev/null 2>&1; then found "$(command -v uv)"; fi
user_bin="$(python3 -m site --user-base 2>/dev/null || echo "$HOME/.local")/bin"
if [ -x "$user_bin/uv" ]; then found "$user_bin/uv"; fi
venv="${XDG_CACHE_HOME:-$HOME/.cache}/lectern/uv"
if [ -x "$venv/bin/uv" ]; then found "$venv/bin/uv"; fi

echo "uv not found: installing it from PyPI" >&2
if python3 -m pip install --quiet --user uv >&2 && [ -x "$user_bin/uv" ]; then
  found "$user_bin/uv"
fi
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet uv >&2
found "$venv/bin/uv"
