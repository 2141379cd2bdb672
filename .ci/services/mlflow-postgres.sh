# PostgreSQL (Debian's package, a private cluster on 127.0.0.1) and an `mlflow server` on it with
# served artifacts: the team tracking setup of docs/team-mode.md, for tests/team/.
# Sourced by .ci/run with `set -euo pipefail`; idempotent; exports what the tests read:
#   MLAPP_TEST_POSTGRES_URL   postgresql://... of an empty database the tests may use
#   MLAPP_TEST_MLFLOW_SERVER  http://127.0.0.1:<port> of the server on that database
mlapp_ci_dir="${MLAPP_CI_DIR:-/tmp/mlapp-ci}"
mkdir -p "$mlapp_ci_dir"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
fi
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
pg_data="$mlapp_ci_dir/pg"
pg_port="${MLAPP_CI_PG_PORT:-55432}"
if [ ! -s "$pg_data/PG_VERSION" ]; then
  install -d -o postgres -g postgres -m 700 "$pg_data"
  runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
fi
if ! runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -w -l "$pg_data/server.log" \
    -o "-p $pg_port -k $pg_data -c listen_addresses=127.0.0.1" start
fi
mlapp_psql() { runuser -u postgres -- psql -h "$pg_data" -p "$pg_port" -U postgres -tAq "$@"; }
if [ "$(mlapp_psql -c "SELECT 1 FROM pg_roles WHERE rolname = 'mlflow'")" != "1" ]; then
  mlapp_psql -c "CREATE ROLE mlflow LOGIN PASSWORD 'mlflow' CREATEDB"
  mlapp_psql -c "CREATE DATABASE mlflow OWNER mlflow"
fi
export MLAPP_TEST_POSTGRES_URL="postgresql://mlflow:mlflow@127.0.0.1:$pg_port/mlflow"

# The server runs from the project's locked environment (psycopg, the driver SQLAlchemy uses
# for postgresql://, is in the dev group).
make --no-print-directory setup >/dev/null
mlflow_port="${MLAPP_CI_MLFLOW_PORT:-55000}"
# curl is not on every base image; the project's Python is.
mlapp_mlflow_up() {
  .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/health", timeout=2)' \
    "$MLAPP_TEST_MLFLOW_SERVER" >/dev/null 2>&1
}
export MLAPP_TEST_MLFLOW_SERVER="http://127.0.0.1:$mlflow_port"
if ! mlapp_mlflow_up; then
  # Job execution (huey consumers for MLflow's GenAI jobs) is off: the project runs no such
  # jobs, and its six worker processes would cost CPU and ~1.5 GB on a 2-core CI machine.
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false nohup .venv/bin/mlflow server --host 127.0.0.1 --port "$mlflow_port" --workers 2 \
    --backend-store-uri "$MLAPP_TEST_POSTGRES_URL" \
    --artifacts-destination "$mlapp_ci_dir/mlflow-artifacts" --serve-artifacts \
    >"$mlapp_ci_dir/mlflow-server.log" 2>&1 &
  mlflow_pid=$!
  for _ in $(seq 120); do
    mlapp_mlflow_up && break
    kill -0 "$mlflow_pid" 2>/dev/null || break  # exited: the log says why
    sleep 1
  done
  mlapp_mlflow_up || {
    tail -50 "$mlapp_ci_dir/mlflow-server.log"; false; }
fi
echo "mlflow server $MLAPP_TEST_MLFLOW_SERVER on $MLAPP_TEST_POSTGRES_URL"
