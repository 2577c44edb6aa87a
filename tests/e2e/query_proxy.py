#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A query front end that enforces a tenant and a bearer token, as Mimir or a Thanos
Query behind an auth proxy does, and forwards the rest to a real query API.

  query_proxy.py PORT UPSTREAM TOKEN_FILE TENANT PREFIX

Serves PREFIX/api/v1/query and PREFIX/api/v1/query_range. A request must carry
`Authorization: Bearer <TOKEN_FILE's content>` (read at each request, so a rotated token
applies at once) and `X-Scope-OrgID: TENANT`, else 401 with a plain-text reason. Each
request's path and outcome go to stdout, one line each.
"""
import http.server
import sys
import urllib.error
import urllib.request

PORT, UPSTREAM, TOKEN_FILE, TENANT, PREFIX = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, status, body, ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("%s %d" % (self.path, status), flush=True)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        token = open(TOKEN_FILE).read().strip()
        if self.headers.get("Authorization") != "Bearer " + token:
            return self.answer(401, b"unauthorized: bad or missing bearer token\n")
        if self.headers.get("X-Scope-OrgID") != TENANT:
            return self.answer(401, b"no org id\n")
        if not self.path.startswith(PREFIX + "/api/v1/"):
            return self.answer(404, b"404 page not found\n")
        req = urllib.request.Request(UPSTREAM + self.path[len(PREFIX):], data=body,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                self.answer(r.status, r.read(), "application/json")
        except urllib.error.HTTPError as e:
            self.answer(e.code, e.read(), "application/json")


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
