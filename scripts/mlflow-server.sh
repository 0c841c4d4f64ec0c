#!/usr/bin/env bash
# Starts or stops an MLflow tracking server for the tests, on 127.0.0.1 only,
# with a SQLite backend and a local artifact folder inside STATE_DIR.
#
#   mlflow-server.sh start STATE_DIR [PORT]   prints the tracking URI; also written
#                                             to STATE_DIR/uri. PORT defaults to a
#                                             free one; reusing STATE_DIR restarts
#                                             the server on the same database.
#   mlflow-server.sh stop STATE_DIR           stops the server started there.
#
# Environment: ADVGNN_VENV (Python environment with mlflow, default <repo>/.venv,
# made by scripts/python-env.sh), ADVGNN_MLFLOW_START_TIMEOUT (seconds to wait
# for /health, default 180: the first start runs every database migration).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${ADVGNN_VENV:-"$repo/.venv"}
timeout=${ADVGNN_MLFLOW_START_TIMEOUT:-180}

usage() {
  echo "usage: $0 start STATE_DIR [PORT] | stop STATE_DIR" >&2
  exit 2
}

stop_server() {
  local state=$1 pid
  [[ -f "$state/pid" ]] || return 0
  pid=$(cat "$state/pid")
  # The server runs in its own session (setsid), so its process group id is
  # its pid; the group includes uvicorn's worker processes.
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$state/pid"
}

start_server() {
  local state=$1 port=${2:-} pid uri
  if [[ ! -x "$venv/bin/mlflow" ]]; then
    echo "mlflow-server.sh: $venv/bin/mlflow not found" >&2
    echo "hint: run scripts/python-env.sh first" >&2
    exit 1
  fi
  mkdir -p "$state/artifacts"
  state=$(cd "$state" && pwd)
  stop_server "$state"
  if [[ -z "$port" ]]; then
    port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
  uri="http://127.0.0.1:$port"

  # The job runner serves MLflow's GenAI jobs, which tracking never uses. When
  # on, it starts seven worker processes that each spend seconds of CPU
  # importing MLflow, which slows the server's first minute on a small machine.
  MLFLOW_DISABLE_TELEMETRY=true \
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false} \
  setsid "$venv/bin/mlflow" server \
    --host 127.0.0.1 --port "$port" --workers 1 \
    --backend-store-uri "sqlite:///$state/mlflow.db" \
    --artifacts-destination "$state/artifacts" \
    >>"$state/server.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$state/pid"

  local deadline=$((SECONDS + timeout))
  until curl -fsS --max-time 2 "$uri/health" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "mlflow-server.sh: the server exited; last lines of $state/server.log:" >&2
      tail -n 20 "$state/server.log" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "mlflow-server.sh: $uri/health did not respond within ${timeout}s; see $state/server.log" >&2
      stop_server "$state"
      exit 1
    fi
    sleep 0.3
  done
  echo "$uri" >"$state/uri"
  echo "$uri"
}

[[ $# -ge 2 ]] || usage
case $1 in
  start) start_server "$2" "${3:-}" ;;
  stop) stop_server "$2" ;;
  *) usage ;;
esac
