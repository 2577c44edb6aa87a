#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A mock ENTSO-E Transparency Platform API on 127.0.0.1 for the end-to-end tests.

Serves an A75 (actual generation per production type) document made from a template:
${START} and ${END} become the last full hour before the request in ENTSO-E's UTC form
(2024-03-05T10:00Z), ${CREATED} the request time and ${AREA} the requested in_Domain, so
the newest point of the document is recent enough to be in force whenever the test runs.

The request must look like the agent's (docs/carbon.md, docs/carbon.md): GET with
documentType=A75, processType=A16, in_Domain=<--area>, periodStart and periodEnd as
YYYYMMDDHHMM that cover the served hour, and securityToken=<the token file's first
line>. Anything else is answered 400 with an Acknowledgement_MarketDocument saying what
was wrong (which the agent treats as "no data", so the test sees the fallback). Every
request is appended to --log as one JSON line: path, status, the problems found, and
whether the token matched (the token itself is not written).

With --forecast-dir DIR it also serves the day-ahead documents of a forecast refresh from
DIR/surplus_a69.xml, surplus_a71.xml, surplus_a65.xml and surplus_a44.xml, with ${Hn}
replaced by the request's periodStart plus n hours: A69 and A71 want processType=A01 and
in_Domain, A65 processType=A01 and outBiddingZone_Domain, A44 in_Domain and out_Domain and no
processType (the ENTSO-E API guide's parameters).

usage: mock_entsoe.py --template FILE --token-file FILE --area AREA --port-file FILE --log FILE
                      [--forecast-dir DIR]
"""

import argparse
import datetime
import json
import os
import string
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACK = """<?xml version="1.0" encoding="utf-8"?>
<Acknowledgement_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0">
\t<mRID>mock-entsoe-ack</mRID>
\t<createdDateTime>%s</createdDateTime>
\t<Reason>
\t\t<code>999</code>
\t\t<text>mock_entsoe: %s</text>
\t</Reason>
</Acknowledgement_MarketDocument>
"""


def entsoe_time(t):
    return t.strftime("%Y-%m-%dT%H:%MZ")


def parse_period(s):
    if len(s) != 12 or not s.isdigit():
        return None
    try:
        return datetime.datetime.strptime(s, "%Y%m%d%H%M").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        srv = self.server
        now = datetime.datetime.now(datetime.timezone.utc)
        end = now.replace(minute=0, second=0, microsecond=0)
        start = end - datetime.timedelta(hours=1)
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        problems = []

        def one(name):
            v = q.get(name, [])
            if len(v) != 1:
                problems.append("%s given %d times" % (name, len(v)))
                return None
            return v[0]

        doc = (q.get("documentType") or ["A75"])[0]
        forecast = srv.forecast_dir and doc in ("A69", "A71", "A65", "A44")
        want_params = {"A75": (("processType", "A16"), ("in_Domain", srv.area)),
                       "A69": (("processType", "A01"), ("in_Domain", srv.area)),
                       "A71": (("processType", "A01"), ("in_Domain", srv.area)),
                       "A65": (("processType", "A01"), ("outBiddingZone_Domain", srv.area)),
                       "A44": (("in_Domain", srv.area), ("out_Domain", srv.area))}
        if doc not in want_params or (doc != "A75" and not forecast):
            problems.append("documentType=%s, not served" % doc)
        for name, want in (("documentType", doc),) + want_params.get(doc, ()):
            v = one(name)
            if v is not None and v != want:
                problems.append("%s=%s, want %s" % (name, v, want))
        ps, pe = parse_period(one("periodStart") or ""), parse_period(one("periodEnd") or "")
        if ps is None or pe is None:
            problems.append("periodStart/periodEnd not YYYYMMDDHHMM")
        elif forecast and not (ps < pe and ps.minute == 0):
            problems.append("period %s..%s is not from a whole hour" % (ps, pe))
        elif not forecast and not (ps <= start and pe >= end and ps < pe):
            problems.append("period %s..%s does not cover %s..%s" % (ps, pe, start, end))
        token = one("securityToken")
        token_ok = token is not None and token == srv.token
        if not token_ok:
            problems.append("wrong or missing securityToken")
        extra = sorted(set(q) - {"documentType", "periodStart", "periodEnd", "securityToken"}
                       - {n for n, _ in want_params.get(doc, ())})
        if extra:
            problems.append("unexpected parameters %s" % extra)

        if problems:
            status = 400
            body = ACK % (now.strftime("%Y-%m-%dT%H:%M:%SZ"), "; ".join(problems))
        elif forecast:
            status = 200
            hours = {"H%d" % h: entsoe_time(ps + datetime.timedelta(hours=h)) for h in range(49)}
            with open(os.path.join(srv.forecast_dir, "surplus_%s.xml" % doc.lower())) as f:
                body = string.Template(f.read()).safe_substitute(
                    CREATED=now.strftime("%Y-%m-%dT%H:%M:%SZ"), AREA=srv.area, **hours)
        else:
            status = 200
            body = srv.template.safe_substitute(START=entsoe_time(start), END=entsoe_time(end),
                                                CREATED=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                AREA=srv.area)
        data = body.encode()
        with srv.lock, open(srv.log, "a") as f:
            f.write(json.dumps({"t": time.time(), "path": url.path, "status": status, "doc": doc,
                                "problems": problems, "token_ok": token_ok,
                                "served_start": entsoe_time(start), "served_end": entsoe_time(end),
                                "period": [one("periodStart"), one("periodEnd")]}) + "\n")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--template", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--area", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--forecast-dir", default="")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    with open(args.template) as f:
        srv.template = string.Template(f.read())
    with open(args.token_file) as f:
        srv.token = f.readline().strip()
    srv.area = args.area
    srv.forecast_dir = args.forecast_dir
    srv.log = args.log
    srv.lock = threading.Lock()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    # Go with the test that started us, even if its cleanup missed us.
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
