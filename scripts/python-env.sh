#!/usr/bin/env bash
# Creates the repository's Python virtual environment (.venv) with the packages
# of scripts/requirements-test.txt: the MLflow server that the tracking tests
# start, and the readers of the files the engine writes.
#
# Idempotent and quick when done: a stamp file stores a hash of the
# requirements, and pip runs only when the requirements changed or the
# environment is missing or broken.
#
# Environment: ADVGNN_VENV (folder of the environment, default <repo>/.venv),
# PYTHON (interpreter that creates it, default python3).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${ADVGNN_VENV:-"$repo/.venv"}
python=${PYTHON:-python3}
requirements="$repo/scripts/requirements-test.txt"
stamp="$venv/.advgnn-requirements.sha256"

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] &&
  "$venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ("mlflow", "safetensors", "numpy")))' 2>/dev/null; then
  exit 0
fi

if ! "$python" -c 'import venv' 2>/dev/null; then
  echo "python-env.sh: $python has no venv module" >&2
  echo "hint: install python3-venv (sudo bash scripts/setup.sh)" >&2
  exit 1
fi

if [[ ! -x "$venv/bin/python" ]]; then
  echo "python-env.sh: creating $venv"
  "$python" -m venv "$venv"
fi

echo "python-env.sh: installing $(grep -cv '^\s*\(#\|$\)' "$requirements") packages into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -c 'import mlflow, safetensors, numpy'
echo "$want" >"$stamp"
