#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A mock of WattTime's API v3 on loopback, built from its documentation, for the WattTime tests.

GET /login with HTTP basic authentication (the --user and --password given) answers
{"token": ...}: a new token each time, valid --ttl seconds (30 minutes in the real API).
The data routes want "Authorization: Bearer <a token still valid>", else 401:

  GET /v3/forecast?region=R&signal_type=co2_moer&horizon_hours=H
      5-minute points from the current 5 minutes for H hours (at least one point), in
      lbs CO2/MWh: point i is 900 - 10 * (i % 12), except a valley of 400 at points 24-29.
  GET /v3/signal-index?region=R&signal_type=co2_moer
      {"data": [{"point_time", "value": 42.0}], "meta": {"units": "percentile"}}

A region other than --region answers 403 (a region the account may not see). --revoke-after
N makes the token of the first login invalid after N data requests (a 401 the agent must
renew through). --rate-limit-login K answers the K-th login with 429 and Retry-After: 1.
Standard library only; logs one JSON line per request to --log (path, whether it carried a
valid token, the status answered), never the secrets themselves.
"""

import argparse
import base64
import datetime
import json
import secrets
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def value(i):
    return 400.0 if 24 <= i < 30 else 900.0 - 10 * (i % 12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--user", default="alice")
    ap.add_argument("--password", default="s3cret-PASSWORD")
    ap.add_argument("--region", default="CAISO_NORTH")
    ap.add_argument("--ttl", type=float, default=1800)
    ap.add_argument("--revoke-after", type=int, default=0)
    ap.add_argument("--rate-limit-login", type=int, default=0)
    args = ap.parse_args()
    tokens = {}   # token -> expiry
    state = {"logins": 0, "data": 0, "first": None}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, status, doc, headers=()):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log(self, status, authed, anchor=None):
            with open(args.log, "a") as f:
                f.write(json.dumps({"t": time.time(), "path": self.path, "authed": authed, "status": status,
                                    "anchor": anchor}) + "\n")

        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(u.query)
            if u.path == "/login":
                state["logins"] += 1
                if state["logins"] == args.rate_limit_login:
                    self.log(429, False)
                    return self.answer(429, {"error": "rate limited"}, [("Retry-After", "1")])
                want = "Basic " + base64.b64encode(("%s:%s" % (args.user, args.password)).encode()).decode()
                if self.headers.get("Authorization") != want:
                    self.log(401, False)
                    return self.answer(401, {"error": "invalid credentials"})
                tok = "wt-" + secrets.token_hex(16)
                tokens[tok] = time.time() + args.ttl
                if state["first"] is None:
                    state["first"] = tok
                self.log(200, False)
                return self.answer(200, {"token": tok})
            auth = self.headers.get("Authorization", "")
            tok = auth[7:] if auth.startswith("Bearer ") else ""
            ok = tok in tokens and tokens[tok] > time.time()
            if ok and args.revoke_after and tok == state["first"] and state["data"] >= args.revoke_after:
                del tokens[tok]
                ok = False
            if not ok:
                self.log(401, False)
                return self.answer(401, {"error": "invalid or expired token"})
            state["data"] += 1
            region = q.get("region", [""])[0]
            if region != args.region:
                self.log(403, True)
                return self.answer(403, {"error": "Unauthorized region: %s" % region})
            now = int(time.time()) // 300 * 300
            meta = {"region": region, "signal_type": q.get("signal_type", ["co2_moer"])[0],
                    "model": {"date": "2023-03-01"}, "data_point_period_seconds": 300, "warnings": []}
            if u.path == "/v3/forecast":
                n = max(1, int(q.get("horizon_hours", ["24"])[0]) * 12)
                meta.update(units="lbs_co2_per_mwh", generated_at=iso(now), generated_at_period_seconds=300)
                data = [{"point_time": iso(now + 300 * i), "value": value(i)} for i in range(n)]
                self.log(200, True, now)
                return self.answer(200, {"data": data, "meta": meta})
            if u.path == "/v3/signal-index":
                meta.update(units="percentile")
                self.log(200, True)
                return self.answer(200, {"data": [{"point_time": iso(now), "value": 42.0}], "meta": meta})
            self.log(404, True)
            self.answer(404, {"error": "not found"})

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
