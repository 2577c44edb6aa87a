#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Per-namespace tenants (remote_write[].tenant): a synthetic agent pushes to a receiver
# that records each request's X-Scope-OrgID. The receiver goes away for a while, the
# agent is SIGKILLed during the outage and restarted, the receiver comes back. Then:
# every request names one tenant and holds only that tenant's series (namespace payments
# renamed team-pay, the others as they are, series without a namespace under platform);
# every series has a sample for every round any series has (nothing lost); a sample
# accepted twice has the same value (a batch partly confirmed before the kill is sent
# again whole, which receivers store once); and per series the order holds.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3"
e2e_init tenants

mock_start 200
AGENT_INTERVAL=1s AGENT_PODS=6 agent_config "$E2E_TMP/agent.yaml" "$(remote_yaml mock "$MOCK_URL/api/v1/write" "" \
  "    tenant: {header: X-Scope-OrgID, label: namespace, map: {payments: team-pay}, default: platform}
")"
agent_start "$E2E_TMP/agent.yaml"
sleep 4
mock_stop
e2e_log "receiver down"
sleep 3
agent_kill9
agent_start "$E2E_TMP/agent.yaml"
sleep 3
mock_start 200
e2e_log "receiver back"
wait_for 30 "the queue drained" bash -c \
  "curl -fsS '$AGENT_URL/metrics' | grep -E '^joulepush_remote_pending_samples\\{.*\\} 0$'"
agent_term

"$PYTHON3" - "$MOCK_LOG" <<'PY' || fail "tenants"
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
lab = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
seen, order_err, conflicts, dups, nreq, tenants = {}, 0, 0, 0, 0, {}
last = {}
for r in sorted(recs, key=lambda r: r["t"]):
    if r.get("method") != "POST" or not 200 <= (r.get("status") or 0) < 300:
        continue
    nreq += 1
    h = [v for k, v in r["headers"].items() if k.lower() == "x-scope-orgid"]
    assert len(h) == 1, "request %d: tenant headers %s" % (r["seq"], h)
    tenant = h[0]
    assert "decode_error" not in r, r.get("decode_error")
    for key, ts, v, stale in r["samples"]:
        labels = dict(lab.findall(key))
        ns = labels.get("namespace")
        want = "platform" if ns is None else ("team-pay" if ns == "payments" else ns)
        assert tenant == want, "request %d: %s under tenant %s, want %s" % (r["seq"], key, tenant, want)
        tenants[tenant] = tenants.get(tenant, 0) + 1
        if stale:
            continue
        if (key, ts) in seen:
            dups += 1
            if seen[(key, ts)] != v:
                conflicts += 1
            continue
        if key in last and ts < last[key]:
            order_err += 1
        seen[(key, ts)] = v
        last[key] = max(ts, last.get(key, ts))
assert not conflicts, "%d samples accepted twice with different values" % conflicts
assert not order_err, "%d samples out of order" % order_err
rounds = sorted({ts for _, ts in seen})
# The agent's own remote series come and go with the receiver's answers; the rest exist
# every round.
series = {k for k, _ in seen if not k.startswith("joulepush_remote_")}
missing = [(k, ts) for k in series for ts in rounds if (k, ts) not in seen]
assert not missing, "%d samples lost, e.g. %s" % (len(missing), missing[:3])
assert len(tenants) >= 4 and "platform" in tenants and "team-pay" in tenants, tenants
print("%d requests, %d series x %d rounds, tenants %s, %d identical duplicates" %
      (nreq, len(series), len(rounds), sorted(tenants), dups))
PY
e2e_log "tenants: every sample under its tenant, none lost across an outage and a SIGKILL"
