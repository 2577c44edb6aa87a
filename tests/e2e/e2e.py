#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Helpers for the end-to-end shell tests: exposition parsing, scraping, fetching raw
samples from Prometheus and VictoriaMetrics, and the checks that compare them.

Subcommands (each exits non-zero with a one-line reason on failure):
  free-port                         print a free TCP port on 127.0.0.1
  parse-expo FILE [--require NAME]  validate Prometheus text exposition
  value FILE SERIES                 print one series' value from an exposition file
  scrape-loop URL OUT [PERIOD]      scrape URL every PERIOD s, one JSON line per scrape
  fetch-prom URL SELECTOR OUT       raw samples of SELECTOR from Prometheus (last hour)
  fetch-vm URL SELECTOR OUT         raw samples of SELECTOR from VictoriaMetrics /api/v1/export
  verify ...                        compare fetched samples with what the agent reported
  mock-log LOG ...                  summarise / check a mock_receiver.py log
"""

import argparse
import json
import math
import os
import re
import socket
import sys
import time
import urllib.parse
import urllib.request

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


class Fail(Exception):
    pass


def escape_label_value(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_key(name, labels):
    inner = ",".join('%s="%s"' % (k, escape_label_value(labels[k])) for k in sorted(labels))
    return "%s{%s}" % (name, inner)


def parse_float(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    return float(s)


def parse_labels(text, lineno):
    """Parse the inside of {...}; return (labels, rest_after_closing_brace)."""
    labels = {}
    i = 0
    while True:
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "}":
            return labels, text[i + 1:]
        j = text.find("=", i)
        if j < 0:
            raise Fail("line %d: label without '='" % lineno)
        name = text[i:j].strip()
        if not LABEL_RE.match(name):
            raise Fail("line %d: bad label name %r" % (lineno, name))
        if name in labels:
            raise Fail("line %d: duplicate label %r" % (lineno, name))
        if j + 1 >= len(text) or text[j + 1] != '"':
            raise Fail("line %d: label value not quoted" % lineno)
        k = j + 2
        val = []
        while True:
            if k >= len(text):
                raise Fail("line %d: unterminated label value" % lineno)
            c = text[k]
            if c == "\\":
                if k + 1 >= len(text) or text[k + 1] not in '\\"n':
                    raise Fail("line %d: bad escape in label value" % lineno)
                val.append({"\\": "\\", '"': '"', "n": "\n"}[text[k + 1]])
                k += 2
                continue
            if c == '"':
                break
            val.append(c)
            k += 1
        labels[name] = "".join(val)
        i = k + 1
        if i < len(text) and text[i] == ",":
            i += 1
        elif i < len(text) and text[i] != "}":
            raise Fail("line %d: expected ',' or '}' after label value" % lineno)


def parse_expo(text):
    """Strictly parse text exposition 0.0.4; return ({key: value}, {name: type})."""
    values, types, helps = {}, {}, set()
    seen_names = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("TYPE", "HELP"):
                name = parts[2]
                if not NAME_RE.match(name):
                    raise Fail("line %d: bad metric name in %s" % (lineno, parts[1]))
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram",
                                                           "summary", "untyped"):
                        raise Fail("line %d: bad TYPE line" % lineno)
                    if name in types:
                        raise Fail("line %d: second TYPE for %s" % (lineno, name))
                    if name in seen_names:
                        raise Fail("line %d: TYPE for %s after its samples" % (lineno, name))
                    types[name] = parts[3]
                else:
                    if name in helps:
                        raise Fail("line %d: second HELP for %s" % (lineno, name))
                    helps.add(name)
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)\Z", line)
        if not m:
            raise Fail("line %d: bad sample line %r" % (lineno, line[:80]))
        name, rest = m.group(1), m.group(2)
        labels = {}
        if rest.startswith("{"):
            labels, rest = parse_labels(rest[1:], lineno)
        fields = rest.split()
        if not rest.startswith(" ") or len(fields) not in (1, 2):
            raise Fail("line %d: expected value [timestamp] in %r" % (lineno, line[:80]))
        try:
            v = parse_float(fields[0])
            if len(fields) == 2:
                int(fields[1])
        except ValueError:
            raise Fail("line %d: bad number in %r" % (lineno, line[:80]))
        key = series_key(name, labels)
        if key in values:
            raise Fail("line %d: duplicate series %s" % (lineno, key))
        values[key] = v
        if name not in seen_names:
            # Samples of one metric family must be contiguous.
            base = name
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and name[: -len(suffix)] in types:
                    base = name[: -len(suffix)]
            if seen_names and seen_names[-1] != base and base in seen_names:
                raise Fail("line %d: samples of %s are not contiguous" % (lineno, name))
            seen_names.append(name)
    return values, types


def metric_name(key):
    return key.split("{", 1)[0]


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


# --- subcommands -----------------------------------------------------------------

def cmd_free_port(args):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def cmd_parse_expo(args):
    with open(args.file) as f:
        values, types = parse_expo(f.read())
    names = {metric_name(k) for k in values}
    missing = [n for n in (args.require or []) if n not in names]
    if missing:
        raise Fail("missing metrics: %s" % ", ".join(missing))
    untyped = sorted(n for n in names if n not in types)
    if untyped and args.typed:
        raise Fail("metrics without a TYPE line: %s" % ", ".join(untyped[:5]))
    print("%d series, %d metric names" % (len(values), len(names)))


def sum_matching(values, name, want):
    """The sum of the series of `name` (in parse_expo's values) whose labels include the
    pairs of `want`, and how many there were."""
    total, n = 0.0, 0
    for k, v in values.items():
        kname, _, kinner = k.partition("{")
        if kname != name:
            continue
        labels, _ = parse_labels(kinner, 0)
        if all(labels.get(a) == b for a, b in want.items()):
            total += v
            n += 1
    return total, n


def cmd_value(args):
    """Print the value of one series; with --sum, the sum over every series of that
    name whose labels include the given ones."""
    with open(args.file) as f:
        values, _ = parse_expo(f.read())
    if not args.sum:
        if args.series not in values:
            raise Fail("no series %s" % args.series)
        print(repr(values[args.series]))
        return
    name, _, inner = args.series.partition("{")
    want, _ = parse_labels(inner, 0) if inner else ({}, "")
    total, n = sum_matching(values, name, want)
    if not n:
        raise Fail("no series matches %s" % args.series)
    print(repr(total))


def cmd_scrape_loop(args):
    parent = os.getppid()
    with open(args.out, "a", buffering=1) as out:
        # Stop with the test that started us, even if its cleanup missed us.
        while os.getppid() == parent:
            t = time.time()
            try:
                text = http_get(args.url, timeout=2)
                values, _ = parse_expo(text)
                out.write(json.dumps({"t": t, "values": values}) + "\n")
            except Exception as e:
                out.write(json.dumps({"t": t, "error": str(e)}) + "\n")
            time.sleep(args.period)


def cmd_fetch_prom(args):
    # A range selector in an instant query returns every raw sample in the range
    # (stale markers excluded), with its exact timestamp.
    q = urllib.parse.urlencode({"query": "%s[1h]" % args.selector, "time": "%.3f" % (time.time() + 1)})
    data = json.loads(http_get("%s/api/v1/query?%s" % (args.url, q)))
    if data.get("status") != "success":
        raise Fail("prometheus query failed: %s" % data)
    result = {}
    for s in data["data"]["result"]:
        labels = dict(s["metric"])
        name = labels.pop("__name__")
        result[series_key(name, labels)] = [[int(round(float(ts) * 1000)), float(v)] for ts, v in s["values"]]
    with open(args.out, "w") as f:
        json.dump(result, f, indent=0, sort_keys=True)
    print("%d series, %d samples" % (len(result), sum(len(v) for v in result.values())))


def cmd_fetch_vm(args):
    # Make freshly ingested rows visible, then export the raw samples (duplicates
    # included: VictoriaMetrics keeps them unless deduplication is configured).
    try:
        http_get("%s/internal/force_flush" % args.url)
    except Exception:
        pass
    q = urllib.parse.urlencode({"match[]": args.selector, "start": "-1h"})
    text = http_get("%s/api/v1/export?%s" % (args.url, q), timeout=30)
    result = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        s = json.loads(line)
        labels = dict(s["metric"])
        name = labels.pop("__name__")
        key = series_key(name, labels)
        pts = result.setdefault(key, [])
        pts.extend([int(ts), float(v) if v is not None else math.nan] for ts, v in zip(s["timestamps"], s["values"]))
    for pts in result.values():
        pts.sort(key=lambda p: p[0])
    with open(args.out, "w") as f:
        json.dump(result, f, indent=0, sort_keys=True)
    print("%d series, %d samples" % (len(result), sum(len(v) for v in result.values())))


def close_enough(a, b, rel):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if rel == 0:
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def cmd_verify(args):
    """Check fetched samples against the agent's runs and its own /metrics.

    Every run is START_MS:STOP_MS (wall clock, taken mid-interval by the test): the
    agent must have one sample at every interval boundary b with START < b <= STOP, and
    none elsewhere. The final exposition (scraped just before the last SIGTERM) gives
    the last value of every series and joulepush_collections_total, the number of rounds
    of the last run.
    """
    with open(args.samples) as f:
        server = json.load(f)
    with open(args.final) as f:
        final, _ = parse_expo(f.read())
    names = args.names.split(",")
    iv = args.interval_ms
    runs = []
    for r in args.runs.split(","):
        a, b = r.split(":")
        runs.append((int(a), int(b)))
    expected_ts = []
    for start, stop in runs:
        b = (start // iv + 1) * iv
        while b <= stop:
            expected_ts.append(b)
            b += iv
    if args.allow_early_first:
        # Tolerate (for tests about other things) a run's first sample stamped with
        # the boundary before that run started; test_prometheus.sh reports it.
        present = {p[0] for k, pts in server.items() if metric_name(k) in names for p in pts}
        for i, (start, stop) in enumerate(runs):
            early = (start // iv) * iv
            if early in present and early not in expected_ts:
                expected_ts.append(early)
                runs[i] = (early - 1, stop)
        expected_ts.sort()
    rounds_final = final.get("joulepush_collections_total{}")
    if rounds_final is None:
        rounds_final = next((v for k, v in final.items() if metric_name(k) == "joulepush_collections_total"), None)
    last_start, last_stop = runs[-1]
    last_run_ts = [t for t in expected_ts if last_start < t <= last_stop]
    errors = []
    if rounds_final is not None and int(rounds_final) != len(last_run_ts):
        errors.append("agent reports %d collections in its last run, the test expected %d (start %d, stop %d)"
                      % (rounds_final, len(last_run_ts), last_start, last_stop))

    want = {k for k in final if metric_name(k) in names}
    got = {k for k in server if metric_name(k) in names}
    if not want:
        errors.append("the agent's /metrics has none of %s" % names)
    for k in sorted(want - got)[:5]:
        errors.append("series missing on the server: %s" % k)
    for k in sorted(got - want)[:5]:
        errors.append("unexpected series on the server: %s" % k)

    # Values seen by the background scraper, per series, for the last run.
    seen = {}
    if args.scrapes:
        with open(args.scrapes) as f:
            for line in f:
                rec = json.loads(line)
                if "values" not in rec or not (last_start <= rec["t"] * 1000 <= last_stop):
                    continue
                for k, v in rec["values"].items():
                    if k in want:
                        seen.setdefault(k, set()).add(v)

    checked = samples = 0
    timing = {}
    for k in sorted(want & got):
        pts = server[k]
        ts = [p[0] for p in pts]
        dups = sorted({t for t in ts if ts.count(t) > 1})
        if dups:
            errors.append("%s: %d duplicate timestamps, e.g. %s" % (k, len(dups), dups[:3]))
        uniq = sorted(set(ts))
        if uniq != expected_ts:
            missing = tuple(sorted(set(expected_ts) - set(uniq)))
            extra = tuple(sorted(set(uniq) - set(expected_ts)))
            timing.setdefault((len(ts), missing, extra), []).append(k)
        last = [p for p in pts if p[0] == max(ts)][0] if ts else None
        if last and last[0] == (last_run_ts[-1] if last_run_ts else None):
            if not close_enough(last[1], final[k], args.rel):
                errors.append("%s: last value on the server %r, the agent's /metrics said %r"
                              % (k, last[1], final[k]))
        run_values = [p[1] for p in pts if last_start - iv < p[0] <= last_stop]
        for v in sorted(seen.get(k, ())):
            if metric_name(k).endswith("_total") and not any(close_enough(v, x, args.rel) for x in run_values):
                errors.append("%s: the agent showed %r on /metrics but the server has no such sample" % (k, v))
                break
        checked += 1
        samples += len(ts)
    # Series with the same wrong timestamps are reported together.
    starts = {(s // iv) * iv for s, _ in runs}
    for (n, missing, extra), keys in sorted(timing.items(), key=lambda kv: -len(kv[1])):
        def show(v):
            return "%s%s" % (list(v[:4]), "..." if len(v) > 4 else "")
        msg = ("%d series (e.g. %s): %d samples, expected %d; missing timestamps %s; unexpected %s"
               % (len(keys), keys[0], n, len(expected_ts), show(missing), show(extra)))
        if extra and set(extra) <= starts:
            msg += ("; a sample is stamped with the interval boundary before the agent started"
                    " (the first round's timestamp is one interval too early)")
        errors.append(msg)
    if errors:
        for e in errors[:25]:
            print("FAIL: " + e)
        if len(errors) > 25:
            print("FAIL: ... %d more" % (len(errors) - 25))
        raise Fail("%d problems" % len(errors))
    print("ok: %d series x %d intervals = %d samples, values match the agent" % (checked, len(expected_ts), samples))


def load_log(path):
    recs = []
    with open(path) as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    return recs


def cmd_mock_log(args):
    recs = load_log(args.log)
    if args.field:
        for r in recs:
            print(" ".join(str(r.get(f)) for f in args.field))
        return
    if args.samples_out:
        # What the receiver accepted (2xx), in the fetch-* format, duplicates kept.
        out = {}
        for r in sorted(recs, key=lambda r: r["t"]):
            if r.get("status") is None or not 200 <= r["status"] < 300:
                continue
            for key, ts, v, stale in r.get("samples", []):
                if not stale:
                    out.setdefault(key, []).append([ts, math.nan if v is None else v])
        for pts in out.values():
            pts.sort(key=lambda p: p[0])
        with open(args.samples_out, "w") as f:
            json.dump(out, f)
    if args.check_unique:
        # Across all requests answered 2xx: no (series, timestamp) twice, and per
        # series timestamps increase in the order the requests arrived (docs/reference/remote-write.md).
        seen = {}
        last = {}
        dups = order = 0
        for r in sorted(recs, key=lambda r: r["t"]):
            if r.get("status") is None or not 200 <= r["status"] < 300:
                continue
            if "decode_error" in r:
                raise Fail("request %d: %s" % (r["seq"], r["decode_error"]))
            for key, ts, _v, _stale in r.get("samples", []):
                if (key, ts) in seen:
                    dups += 1
                    if dups <= 3:
                        print("FAIL: %s @%d accepted in request %d and again in %d" % (key, ts, seen[(key, ts)], r["seq"]))
                    continue
                if key in last and ts < last[key]:
                    order += 1
                seen[(key, ts)] = r["seq"]
                last[key] = max(ts, last.get(key, ts))
        if dups or order:
            raise Fail("%d duplicate samples, %d out of order" % (dups, order))
        print("ok: %d samples accepted, none twice" % len(seen))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-port").set_defaults(fn=cmd_free_port)
    p = sub.add_parser("parse-expo")
    p.add_argument("file")
    p.add_argument("--require", action="append")
    p.add_argument("--typed", action="store_true", help="every metric needs a TYPE line")
    p.set_defaults(fn=cmd_parse_expo)
    p = sub.add_parser("value")
    p.add_argument("file")
    p.add_argument("series", help='name{label="v",...}, labels sorted')
    p.add_argument("--sum", action="store_true", help="sum every series of the name that has these labels")
    p.set_defaults(fn=cmd_value)
    p = sub.add_parser("scrape-loop")
    p.add_argument("url")
    p.add_argument("out")
    p.add_argument("period", type=float, nargs="?", default=0.2)
    p.set_defaults(fn=cmd_scrape_loop)
    for name, fn in (("fetch-prom", cmd_fetch_prom), ("fetch-vm", cmd_fetch_vm)):
        p = sub.add_parser(name)
        p.add_argument("url")
        p.add_argument("selector")
        p.add_argument("out")
        p.set_defaults(fn=fn)
    p = sub.add_parser("verify")
    p.add_argument("--samples", required=True)
    p.add_argument("--final", required=True)
    p.add_argument("--names", required=True)
    p.add_argument("--runs", required=True, help="START_MS:STOP_MS,... wall-clock ms")
    p.add_argument("--interval-ms", type=int, default=1000)
    p.add_argument("--scrapes")
    p.add_argument("--allow-early-first", action="store_true")
    p.add_argument("--rel", type=float, default=0.0, help="relative tolerance for values")
    p.set_defaults(fn=cmd_verify)
    p = sub.add_parser("mock-log")
    p.add_argument("log")
    p.add_argument("--field", action="append", help="print these fields, one request a line")
    p.add_argument("--check-unique", action="store_true")
    p.add_argument("--samples-out", help="write the accepted samples as JSON for verify")
    p.set_defaults(fn=cmd_mock_log)
    args = ap.parse_args()
    try:
        args.fn(args)
    except Fail as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
    except (OSError, ValueError) as e:
        print("FAIL: %s: %s" % (args.cmd, e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
