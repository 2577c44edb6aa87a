#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A remote-write receiver that misbehaves on purpose, for the end-to-end fault tests.

It answers each request with the next entry of a scenario (the last entry repeats, or
with --cycle the whole scenario):
  200, 204, 500, 503, 400, ...          that status
  429:retry-after=2                      the status with a Retry-After header
  hang                                   read the request, never answer
  close                                  read the request, close without answering
  proxy                                  forward to --upstream and return its status
Each request is logged as one JSON line (time, status, body length, headers and, with
--decode, the decoded samples of remote write 1.0 and 2.0 bodies) to --log. Standard
library only: snappy and protobuf are decoded by hand below.

With --tls-cert/--tls-key it serves HTTPS; --tls-client-ca then also requires a client
certificate signed by that CA. A failed handshake is logged as {"event": "tls_error"}.
A remote write 2.0 request (told by its Content-Type, docs/reference/remote-write.md) is answered like any
other unless --v2 reject, which answers 415 as a 1.0-only receiver does.
"""

import argparse
import http.client
import json
import math
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STALE_NAN_BITS = 0x7FF0000000000002


def parse_scenario(text):
    steps = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        kind, _, opts = item.partition(":")
        step = {"kind": kind, "retry_after": None}
        if kind not in ("hang", "close", "proxy"):
            step["status"] = int(kind)
            step["kind"] = "status"
        for opt in filter(None, opts.split(";")):
            key, _, val = opt.partition("=")
            if key == "retry-after":
                step["retry_after"] = val
            else:
                raise ValueError("unknown option %r in %r" % (key, item))
        steps.append(step)
    if not steps:
        raise ValueError("empty scenario")
    return steps


# --- snappy block format (https://github.com/google/snappy/blob/main/format_description.txt)

def _uvarint(b, pos):
    result = shift = 0
    while True:
        if pos >= len(b):
            raise ValueError("truncated varint")
        c = b[pos]
        pos += 1
        result |= (c & 0x7F) << shift
        if not c & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def snappy_decompress(b):
    want, pos = _uvarint(b, 0)
    out = bytearray()
    while pos < len(b):
        tag = b[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            n = tag >> 2
            if n >= 60:
                nb = n - 59
                n = int.from_bytes(b[pos:pos + nb], "little")
                pos += nb
            n += 1
            if pos + n > len(b):
                raise ValueError("truncated literal")
            out += b[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            n = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | b[pos]
            pos += 1
        elif kind == 2:
            n = (tag >> 2) + 1
            off = int.from_bytes(b[pos:pos + 2], "little")
            pos += 2
        else:
            n = (tag >> 2) + 1
            off = int.from_bytes(b[pos:pos + 4], "little")
            pos += 4
        if off == 0 or off > len(out):
            raise ValueError("bad copy offset")
        for _ in range(n):
            out.append(out[-off])
    if len(out) != want:
        raise ValueError("length %d, preamble says %d" % (len(out), want))
    return bytes(out)


# --- protobuf wire format, just enough for prometheus.WriteRequest

def _fields(b):
    pos = 0
    while pos < len(b):
        key, pos = _uvarint(b, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _uvarint(b, pos)
        elif wt == 1:
            val = b[pos:pos + 8]
            pos += 8
        elif wt == 2:
            n, pos = _uvarint(b, pos)
            val = b[pos:pos + n]
            if len(val) != n:
                raise ValueError("truncated field")
            pos += n
        elif wt == 5:
            val = b[pos:pos + 4]
            pos += 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, val


def decode_write_request(raw):
    """Return [(labels_dict, [(ts_ms, value, is_stale), ...]), ...]."""
    series = []
    for num, wt, ts_bytes in _fields(raw):
        if num != 1 or wt != 2:
            continue
        labels, samples = {}, []
        for fnum, fwt, val in _fields(ts_bytes):
            if fnum == 1 and fwt == 2:
                name = value = ""
                for lnum, lwt, lval in _fields(val):
                    if lnum == 1:
                        name = lval.decode()
                    elif lnum == 2:
                        value = lval.decode()
                labels[name] = value
            elif fnum == 2 and fwt == 2:
                v, ts, bits = 0.0, 0, 0
                for snum, swt, sval in _fields(val):
                    if snum == 1 and swt == 1:
                        bits = struct.unpack("<Q", sval)[0]
                        v = struct.unpack("<d", sval)[0]
                    elif snum == 2 and swt == 0:
                        ts = sval - (1 << 64) if sval >= 1 << 63 else sval
                samples.append((ts, v, bits == STALE_NAN_BITS))
        series.append((labels, samples))
    return series


def is_v2_request(headers):
    ctype = (headers.get("Content-Type") or "").replace(" ", "")
    return "proto=io.prometheus.write.v2.Request" in ctype


def _packed_uvarints(wt, val):
    if wt == 0:
        return [val]
    out, pos = [], 0
    while pos < len(val):
        v, pos = _uvarint(val, pos)
        out.append(v)
    return out


def decode_v2_request(raw):
    """Decode io.prometheus.write.v2.Request.

    Return (symbols, [(label_pairs, [(ts_ms, value, is_stale), ...], meta), ...]) where
    label_pairs keeps the order of labels_refs, so that callers can check it, and meta is
    {"type", "help", "unit", "created", "starts"} from TimeSeries.metadata, created_timestamp
    and the distinct Sample.start_timestamp values (None where absent; 0 for a sample without
    one)."""
    symbols, raw_series = [], []
    for num, wt, val in _fields(raw):
        if num == 4 and wt == 2:
            symbols.append(val.decode())
        elif num == 5 and wt == 2:
            raw_series.append(val)
    series = []
    for ts_bytes in raw_series:
        refs, samples = [], []
        meta = {"type": None, "help": None, "unit": None, "created": None, "starts": []}
        for fnum, fwt, val in _fields(ts_bytes):
            if fnum == 5 and fwt == 2:
                meta.update(type=0, help="", unit="")
                for mnum, mwt, mval in _fields(val):
                    if mwt != 0:
                        continue
                    if mnum == 1:
                        meta["type"] = mval
                    elif mnum in (3, 4):
                        if mval >= len(symbols):
                            raise ValueError("metadata ref %d beyond the %d symbols" % (mval, len(symbols)))
                        meta["help" if mnum == 3 else "unit"] = symbols[mval]
            elif fnum == 6 and fwt == 0:
                meta["created"] = val - (1 << 64) if val >= 1 << 63 else val
            elif fnum == 1 and fwt in (0, 2):
                refs.extend(_packed_uvarints(fwt, val))
            elif fnum == 2 and fwt == 2:
                v, ts, bits, start = 0.0, 0, 0, 0
                for snum, swt, sval in _fields(val):
                    if snum == 1 and swt == 1:
                        bits = struct.unpack("<Q", sval)[0]
                        v = struct.unpack("<d", sval)[0]
                    elif snum == 2 and swt == 0:
                        ts = sval - (1 << 64) if sval >= 1 << 63 else sval
                    elif snum == 3 and swt == 0:
                        start = sval - (1 << 64) if sval >= 1 << 63 else sval
                if start not in meta["starts"]:
                    meta["starts"].append(start)
                samples.append((ts, v, bits == STALE_NAN_BITS))
        if len(refs) % 2:
            raise ValueError("odd number of labels_refs (%d)" % len(refs))
        if any(r >= len(symbols) for r in refs):
            raise ValueError("labels_refs beyond the %d symbols" % len(symbols))
        pairs = [[symbols[refs[i]], symbols[refs[i + 1]]] for i in range(0, len(refs), 2)]
        series.append((pairs, samples, meta))
    return symbols, series


def v2_written_headers(body):
    try:
        _, series = decode_v2_request(snappy_decompress(body))
    except Exception:
        return {}
    return {
        "X-Prometheus-Remote-Write-Samples-Written": str(sum(len(s) for _, s, _ in series)),
        "X-Prometheus-Remote-Write-Histograms-Written": "0",
        "X-Prometheus-Remote-Write-Exemplars-Written": "0",
    }


def series_key(labels):
    """name{a="b",...} with labels sorted, as e2e.py writes series."""
    def esc(v):
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    rest = {k: v for k, v in labels.items() if k != "__name__"}
    return "%s{%s}" % (labels.get("__name__", ""),
                       ",".join('%s="%s"' % (k, esc(rest[k])) for k in sorted(rest)))


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, steps, log_path, upstream, decode, tls_context=None, v2="accept"):
        super().__init__(addr, Handler)
        self.tls_context = tls_context
        self.v2 = v2
        self.steps = steps
        self.step_index = 0
        self.cycle = False
        self.lock = threading.Lock()
        self.log_file = open(log_path, "a", buffering=1) if log_path else None
        self.upstream = upstream
        self.decode = decode
        self.stopping = threading.Event()

    def next_step(self):
        with self.lock:
            if self.cycle:
                i = self.step_index % len(self.steps)
            else:
                i = min(self.step_index, len(self.steps) - 1)
            self.step_index += 1
            return self.step_index, self.steps[i]

    def log(self, rec):
        if self.log_file:
            with self.lock:
                self.log_file.write(json.dumps(rec, sort_keys=True) + "\n")

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, so that a
        # client that stalls or fails it does not block the accept loop.
        if self.tls_context is not None:
            request.settimeout(10)
            try:
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.log({"t": time.time(), "event": "tls_error", "error": str(e)})
                try:
                    request.close()
                except OSError:
                    pass
                return
            request.settimeout(None)
            try:
                super().finish_request(request, client_address)
            finally:
                request.close()
            return
        super().finish_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-receiver"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = b""
        while len(body) < n:
            chunk = self.rfile.read(n - len(body))
            if not chunk:
                break
            body += chunk
        return body

    def _record(self, seq, step, status, body, extra=None):
        rec = {
            "t": time.time(),
            "seq": seq,
            "method": self.command,
            "path": self.path,
            "action": step["kind"],
            "status": status,
            "body_len": len(body),
            "headers": {k: v for k, v in self.headers.items()},
        }
        if isinstance(self.connection, ssl.SSLSocket):
            rec["tls"] = {"version": self.connection.version(), "client_cn": None}
            peer = self.connection.getpeercert()
            for rdn in (peer or {}).get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        rec["tls"]["client_cn"] = v
        if (self.server.decode and body and self.headers.get("Content-Encoding") == "snappy"
                and is_v2_request(self.headers)):
            rec["proto"] = "2.0"
            try:
                symbols, series = decode_v2_request(snappy_decompress(body))
                rec["series"] = len(series)
                rec["symbols"] = len(symbols)
                rec["symbol0"] = symbols[0] if symbols else None
                rec["v2_labels"] = [pairs for pairs, _, _ in series]
                rec["v2_meta"] = [meta for _, _, meta in series]
                rec["samples"] = [
                    [series_key(dict(pairs)), ts, None if math.isnan(v) else v, stale]
                    for pairs, samples, _ in series for ts, v, stale in samples
                ]
            except Exception as e:
                rec["decode_error"] = str(e)
        elif self.server.decode and body and self.headers.get("Content-Encoding") == "snappy":
            try:
                raw = snappy_decompress(body)
                series = decode_write_request(raw)
                rec["series"] = len(series)
                rec["samples"] = [
                    [series_key(lab), ts, None if math.isnan(v) else v, stale]
                    for lab, samples in series for ts, v, stale in samples
                ]
            except Exception as e:  # a bad body is worth logging, not crashing over
                rec["decode_error"] = str(e)
        if extra:
            rec.update(extra)
        self.server.log(rec)

    def _reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _proxy(self, body):
        u = urllib.parse.urlsplit(self.server.upstream)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        hdrs = {k: v for k, v in self.headers.items()
                if k.lower() not in ("host", "content-length", "connection")}
        try:
            conn.request("POST", u.path or "/", body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return r.status, data
        except OSError as e:
            return 502, ("upstream: %s" % e).encode()
        finally:
            conn.close()

    def do_GET(self):
        # A health endpoint so the tests can wait for readiness.
        self._reply(200, b"ok\n")

    def do_POST(self):
        body = self._read_body()
        if self.server.v2 == "reject" and is_v2_request(self.headers):
            # A 1.0-only receiver: 415, without using up a scenario step.
            with self.server.lock:
                self.server.step_index += 1
                seq = self.server.step_index
            self._record(seq, {"kind": "reject-v2"}, 415, body)
            self._reply(415, b"mock receiver speaks remote write 1.0 only\n")
            return
        seq, step = self.server.next_step()
        kind = step["kind"]
        if kind == "hang":
            self._record(seq, step, None, body)
            # Keep the connection open and silent until the client gives up
            # (or the receiver stops).
            self.close_connection = True
            self.connection.settimeout(1.0)
            while not self.server.stopping.is_set():
                try:
                    if self.connection.recv(1) == b"":
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
            return
        if kind == "close":
            self._record(seq, step, None, body)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        headers = {}
        if step["retry_after"] is not None:
            headers["Retry-After"] = step["retry_after"]
        if kind == "proxy":
            status, data = self._proxy(body)
            self._record(seq, step, status, body, {"upstream_body": data[:256].decode("utf-8", "replace")})
            self._reply(status, data, headers)
            return
        status = step["status"]
        reply = b""
        if 400 <= status < 500 and status != 429:
            reply = b"mock receiver rejects this batch (scenario %d)\n" % status
        elif status >= 500:
            reply = b"mock receiver failure\n"
        if 200 <= status < 300 and is_v2_request(self.headers):
            # A 2.0 receiver says how much it wrote (remote write 2.0 specification);
            # a 1.0-only receiver answers 2xx without these headers.
            headers.update(v2_written_headers(body))
        self._record(seq, step, status, body)
        self._reply(status, reply, headers)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", help="comma-separated responses, e.g. 500,500,200 or 429:retry-after=2,200")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    ap.add_argument("--upstream", help="URL for the proxy action")
    ap.add_argument("--decode", action="store_true", help="decode remote write 1.0 and 2.0 bodies into the log")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    ap.add_argument("--tls-client-ca", help="require a client certificate signed by this CA")
    ap.add_argument("--v2", choices=("accept", "reject"), default="accept",
                    help="answer remote write 2.0 requests by the scenario (accept) or with 415 (reject)")
    ap.add_argument("--cycle", action="store_true", help="repeat the whole scenario instead of its last entry")
    args = ap.parse_args()
    steps = parse_scenario(args.scenario)
    if any(s["kind"] == "proxy" for s in steps) and not args.upstream:
        ap.error("proxy needs --upstream")
    ctx = None
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.tls_client_ca)
    elif args.tls_key or args.tls_client_ca:
        ap.error("--tls-key and --tls-client-ca need --tls-cert")
    srv = Receiver(("127.0.0.1", args.port), steps, args.log, args.upstream, args.decode, ctx, args.v2)
    srv.cycle = args.cycle
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, args.port_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stopping.set()


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    main()
