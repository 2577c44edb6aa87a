#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A mock of the UK Carbon Intensity API's forecast route, for the forecast tests.

GET /intensity/{from}/fw48h (or /regional/intensity/{from}/fw48h/regionid/{id}) answers
--hours (48) of points of --step seconds (1800 as the real API) starting at {from}, in the real
API's JSON shape. The values follow a layout the test knows:

  point i: 200 + 10 * (i % 7), except a valley of --valley-len points of 80 starting at
  point --valley-at.

With --relative the points start at the time of the request (rounded down to --step)
instead of {from}, for tests that need seconds-long points (joulepush when --wait).
--status N answers every request with HTTP N instead (e.g. 429 with Retry-After: 1).
Standard library only; logs one line per request to --log.
"""

import argparse
import datetime
import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def value(i, args):
    if args.valley_at <= i < args.valley_at + args.valley_len:
        return 80
    return 200 + 10 * (i % 7)


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--step", type=int, default=1800)
    ap.add_argument("--valley-at", type=int, default=6)
    ap.add_argument("--valley-len", type=int, default=4)
    ap.add_argument("--relative", action="store_true")
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--hours", type=int, default=48)
    args = ap.parse_args()
    npoints = args.hours * 3600 // args.step

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            with open(args.log, "a") as f:
                f.write(json.dumps({"t": time.time(), "path": self.path}) + "\n")
            m = re.match(r"^(?:/regional)?/intensity/([0-9T:\-Z]+)/fw48h(?:/regionid/(\d+))?$", self.path)
            if not m:
                self.send_error(404)
                return
            if args.status != 200:
                self.send_response(args.status)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if args.relative:
                start = int(time.time()) // args.step * args.step
            else:
                d = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%MZ").replace(tzinfo=datetime.timezone.utc)
                start = int(d.timestamp())
            points = [{"from": iso(start + i * args.step), "to": iso(start + (i + 1) * args.step),
                       "intensity": {"forecast": value(i, args), "actual": None, "index": "moderate"}}
                      for i in range(npoints)]
            if m.group(2):
                body = {"data": {"regionid": int(m.group(2)), "shortname": "mock", "data": points}}
            else:
                body = {"data": points}
            raw = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(args.port_file, "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
