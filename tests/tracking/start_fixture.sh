#!/bin/sh
# Starts the MLflow server of the CTest fixture mlflow_server in STATE_DIR,
# with a fresh database. Exits 77, which CTest reports as skipped, when the
# Python environment has no mlflow program, so a plain `ctest` without
# scripts/python-env.sh skips the tracking tests instead of failing them. A
# server that fails to start with mlflow installed still fails.
#
# usage: start_fixture.sh SCRIPTS_DIR STATE_DIR
# Environment: ADVGNN_VENV, as for mlflow-server.sh (default <repo>/.venv).
set -u

scripts=$1
state=$2
venv=${ADVGNN_VENV:-$(cd "$scripts/.." && pwd)/.venv}

if [ ! -x "$venv/bin/mlflow" ]; then
    echo "skipped: $venv/bin/mlflow not found; run scripts/python-env.sh to install MLflow for the tracking tests"
    exit 77
fi
rm -rf "$state" || exit 1
exec bash "$scripts/mlflow-server.sh" start "$state"
