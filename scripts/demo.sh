#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds joulepush, starts a local Prometheus with its
# remote-write receiver on loopback, and runs joulepush on this node against it in the
# foreground (Ctrl-C stops both). Settings: PROM_PORT (9090), JP_PORT (9465),
# JP_MODE (the collector.mode, default auto), DEMO_DIR (/var/tmp/joulepush-demo).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

PROM_PORT=${PROM_PORT:-9090}
JP_PORT=${JP_PORT:-9465}
JP_MODE=${JP_MODE:-auto}
DEMO_DIR=${DEMO_DIR:-/var/tmp/joulepush-demo}

bash scripts/setup.sh
BUILD_DIR="$top/build" bash scripts/build.sh

if [ "$(id -u)" -eq 0 ] && [ ! -e /sys/kernel/tracing/events ] && [ -d /sys/kernel/tracing ]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi

mkdir -p "$DEMO_DIR/prometheus" "$DEMO_DIR/queue"
cat > "$DEMO_DIR/prometheus.yml" <<YML
global:
  scrape_interval: 15s
YML

prom_pid=
cleanup() {
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
  return 0
}
trap cleanup EXIT

if curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1; then
  echo "demo: a server already answers on 127.0.0.1:$PROM_PORT; using it (it needs --web.enable-remote-write-receiver)"
else
  setsid prometheus --config.file="$DEMO_DIR/prometheus.yml" --storage.tsdb.path="$DEMO_DIR/prometheus" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver \
    >"$DEMO_DIR/prometheus.log" 2>&1 &
  prom_pid=$!
  for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null || { echo "demo: Prometheus did not start; see $DEMO_DIR/prometheus.log" >&2; exit 1; }
fi

cat > "$DEMO_DIR/joulepush.yaml" <<YML
interval: 5s
collector:
  mode: $JP_MODE
remote_write:
  - name: local-prometheus
    url: http://127.0.0.1:$PROM_PORT/api/v1/write
    queue:
      dir: $DEMO_DIR/queue
server:
  listen: 127.0.0.1:$JP_PORT
YML

cat <<MSG

joulepush is running on this node and pushing to the local Prometheus.
  Prometheus:        http://127.0.0.1:$PROM_PORT/graph?g0.expr=joulepush_node_power_watts
                     (also try: sum by (namespace) (rate(joulepush_pod_energy_joules_total[1m])))
  joulepush metrics: http://127.0.0.1:$JP_PORT/metrics   (/healthz, /readyz)
  config:            $DEMO_DIR/joulepush.yaml   (edit it and send SIGHUP to reload)
  Prometheus log:    $DEMO_DIR/prometheus.log
Press Ctrl-C to stop.

MSG
# In its own session, so that Ctrl-C reaches only this script, which then stops the
# agent with one SIGTERM (a second signal would make it exit without flushing).
setsid "$top/build/joulepush" --config "$DEMO_DIR/joulepush.yaml" &
jp_pid=$!
# Prometheus is stopped (EXIT trap) only once the agent has flushed and exited.
trap 'kill -TERM $jp_pid 2>/dev/null' INT TERM
while kill -0 "$jp_pid" 2>/dev/null; do wait "$jp_pid" || true; done
