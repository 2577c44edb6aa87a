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
  verify ...                        compare fetched samples with the agent's round log
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


def load_rounds(path):
    """Read the agent's round log (JOULEPUSH_ROUND_LOG): a list of runs, each a list of
    (ts_ms, {key: value}) rounds in the order the agent handed them to its senders. A
    line cut short by a SIGKILL ends the log."""
    runs = []
    cur = None
    with open(path) as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] != "":
        lines = lines[:-1]   # the agent died in the middle of a write
    for lineno, line in enumerate(lines, 1):
        if not line:
            continue
        if line.startswith("# start "):
            runs.append([])
            continue
        if line.startswith("# round "):
            if not runs:
                raise Fail("%s:%d: a round before the first '# start'" % (path, lineno))
            cur = (int(line.split()[2]), {})
            runs[-1].append(cur)
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)\Z", line)
        if not m or cur is None:
            raise Fail("%s:%d: bad line %r" % (path, lineno, line[:80]))
        name, rest = m.group(1), m.group(2)
        labels = {}
        if rest.startswith("{"):
            labels, rest = parse_labels(rest[1:], lineno)
        value, ts = rest.split()
        if int(ts) != cur[0]:
            raise Fail("%s:%d: sample stamped %s inside round %d" % (path, lineno, ts, cur[0]))
        cur[1][series_key(name, labels)] = parse_float(value)
    return runs


def cmd_verify(args):
    """Check fetched samples against the rounds the agent itself recorded.

    The agent, run with JOULEPUSH_ROUND_LOG, appended every round it handed to its
    senders (timestamp and values). Once it has stopped, that log says exactly what the
    receiver must hold: for every checked series, one sample at each of its rounds with
    that value, and nothing else. Nothing here depends on the test's clock or on when a
    round ran. The one allowance: a run ended by SIGKILL (--killed) may have queued one
    round that it did not get to log; the receiver may hold that round, just after the
    run's last logged one.
    """
    with open(args.samples) as f:
        server = json.load(f)
    runs = load_rounds(args.rounds)
    names = set(args.names.split(","))
    errors = []
    if not runs or not any(runs):
        raise Fail("the round log %s has no round" % args.rounds)
    expected = {}
    for run in runs:
        for ts, values in run:
            for k, v in values.items():
                if metric_name(k) in names and not math.isnan(v):
                    expected.setdefault(k, {})[ts] = v
    # The round after a killed run's last logged one, one per killed run.
    unlogged = set()
    if args.killed:
        for run in runs[:-1]:
            if len(run) >= 2:
                unlogged.add(run[-1][0] + (run[-1][0] - run[-2][0]))
    if not expected:
        errors.append("the agent's rounds have none of %s" % sorted(names))
    got = {k for k in server if metric_name(k) in names}
    for k in sorted(set(expected) - got)[:5]:
        errors.append("series missing on the server: %s" % k)
    for k in sorted(got - set(expected))[:5]:
        errors.append("unexpected series on the server: %s" % k)

    checked = samples = 0
    timing = {}
    for k in sorted(set(expected) & got):
        want = expected[k]
        pts = [p for p in server[k] if not (isinstance(p[1], float) and math.isnan(p[1]))]
        ts = [p[0] for p in pts]
        dups = sorted({t for t in ts if ts.count(t) > 1})
        if dups:
            errors.append("%s: %d duplicate timestamps, e.g. %s" % (k, len(dups), dups[:3]))
        missing = tuple(sorted(set(want) - set(ts)))
        extra = tuple(sorted(set(ts) - set(want) - unlogged))
        if missing or extra:
            timing.setdefault((missing, extra), []).append(k)
        bad = [(t, v, want[t]) for t, v in pts if t in want and not close_enough(v, want[t], args.rel)]
        if bad:
            t, v, w = bad[0]
            errors.append("%s: %d values differ from the agent's rounds, e.g. @%d server %r, agent %r"
                          % (k, len(bad), t, v, w))
        checked += 1
        samples += len(ts)
    for (missing, extra), keys in sorted(timing.items(), key=lambda kv: -len(kv[1])):
        def show(v):
            return "%s%s" % (list(v[:4]), "..." if len(v) > 4 else "")
        errors.append("%d series (e.g. %s): missing timestamps %s; not in the agent's rounds %s"
                      % (len(keys), keys[0], show(missing), show(extra)))
    if errors:
        for e in errors[:25]:
            print("FAIL: " + e)
        if len(errors) > 25:
            print("FAIL: ... %d more" % (len(errors) - 25))
        raise Fail("%d problems" % len(errors))
    nrounds = sum(len(r) for r in runs)
    print("ok: %d series, %d samples over %d rounds in %d runs, values match the agent's rounds"
          % (checked, samples, nrounds, len(runs)))


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
    # A SIGKILL between the receiver's 2xx and the agent's reading of it (its ack) makes the
    # next run send that batch again (docs/reference/remote-write.md): with --kills, the
    # samples of the last 2xx request before each kill may come once more, and only those.
    last_before_kill = set()
    if getattr(args, "kills", None):
        runs = [l.strip().split(":") for l in open(args.kills) if l.strip()]
        ok = sorted((r["t"] * 1000, r["seq"]) for r in recs
                    if r.get("status") is not None and 200 <= r["status"] < 300)
        for start, end in runs[:-1]:
            before = [seq for t, seq in ok if t <= float(end)]
            if before:
                last_before_kill.add(before[-1])
    if args.samples_out:
        # What the receiver accepted (2xx), in the fetch-* format; a batch resent after a
        # kill (above) counts once.
        out = {}
        once = set()
        for r in sorted(recs, key=lambda r: r["t"]):
            if r.get("status") is None or not 200 <= r["status"] < 300:
                continue
            for key, ts, v, stale in r.get("samples", []):
                if last_before_kill and (key, ts) in once:
                    continue
                once.add((key, ts))
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
        dups = order = resent = 0
        for r in sorted(recs, key=lambda r: r["t"]):
            if r.get("status") is None or not 200 <= r["status"] < 300:
                continue
            if "decode_error" in r:
                raise Fail("request %d: %s" % (r["seq"], r["decode_error"]))
            for key, ts, _v, _stale in r.get("samples", []):
                if (key, ts) in seen and seen[(key, ts)] in last_before_kill:
                    resent += 1
                    continue
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
        print("ok: %d samples accepted, none twice%s" % (
            len(seen), "" if not resent else " (but %d of the last batch before a SIGKILL, sent again by the next run)" % resent))


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
    p.add_argument("--rounds", required=True, help="the agent's JOULEPUSH_ROUND_LOG")
    p.add_argument("--names", required=True)
    p.add_argument("--killed", action="store_true", help="runs before the last ended by SIGKILL")
    p.add_argument("--rel", type=float, default=0.0, help="relative tolerance for values")
    p.set_defaults(fn=cmd_verify)
    p = sub.add_parser("mock-log")
    p.add_argument("log")
    p.add_argument("--field", action="append", help="print these fields, one request a line")
    p.add_argument("--check-unique", action="store_true")
    p.add_argument("--kills", help="runs.txt of start:end ms; the last 2xx batch before each kill may come again")
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
