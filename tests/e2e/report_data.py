#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Known data for the report tests, and the report's figures computed from it directly.

  report_data.py gen START_S DAYS OUTDIR
      OUTDIR/data.om       OpenMetrics for `promtool tsdb create-blocks-from openmetrics`
      OUTDIR/data.jsonl    the same samples for VictoriaMetrics' /api/v1/import
      OUTDIR/truth.json    every series' increments, to compute expectations from
  report_data.py check TRUTH REPORT_JSON FROM_S TO_S BY [MATCH_CLUSTER]
      compares every row, the system and idle rows and the total with sums of the
      increments in (FROM, TO], within 1 %

Two nodes: n1 (cluster c1) measures package, core, dram and gpu and its agent restarts on the
second day (every counter starts again from 0); n2 (cluster c2) also has psys, which is
then its total-energy basis. Pods only get active energy; the rest of the idle energy is
the node's own (idle_attribution: none). Samples every 5 minutes.
"""
import datetime
import json
import math
import sys

STEP = 300
PUE = 1.2
NODES = {
    "n1": {"cluster": "c1", "zones": ["package", "core", "dram", "gpu"], "restart_day": 1.5},
    "n2": {"cluster": "c2", "zones": ["psys", "package", "core", "dram"], "restart_day": None},
}
PODS = [  # namespace, pod, node, share of the node's active energy, embodied g per step
    ("team-a", "web-1", "n1", 0.30, 0.02),
    ("team-b", "batch", "n1", 0.45, 0.0),
    ("team-a", "web-2", "n2", 0.20, 0.02),
    ("team-c", "db", "n2", 0.35, 0.0),
]
SYSTEM_SHARE = 0.10


def zone_w(node, zone, mode, t):
    """Average power of a zone and mode over the step ending at t (W)."""
    h = (t % 86400) / 3600.0
    base = {"n1": 120.0, "n2": 80.0}[node]
    active = base * (0.5 + 0.4 * math.sin(h / 24 * 2 * math.pi) + 0.1 * ((t // STEP) % 7) / 7)
    idle = base * 0.25
    pkg = active if mode == "active" else idle
    if zone == "package":
        return pkg
    if zone == "core":
        return 0.6 * pkg
    if zone == "dram":
        return 0.12 * pkg
    if zone == "gpu":
        return 0.8 * pkg + (15.0 if mode == "idle" else 0.0)
    return 1.12 * pkg + (10.0 if mode == "idle" else 0.0)  # psys: the whole platform


def basis(node, zone):
    """The total-energy basis: psys where the node has it, else package + dram; plus gpu."""
    has_psys = "psys" in NODES[node]["zones"]
    if zone == "gpu":
        return True
    return zone == "psys" if has_psys else zone in ("package", "dram")


def intensity(t):
    return 200.0 + 150.0 * math.cos(((t % 86400) / 86400.0) * 2 * math.pi)


def cfe(t):
    """The grid's carbon-free share in force over the step ending at t."""
    return 0.35 + 0.25 * math.sin(((t % 86400) / 86400.0) * 2 * math.pi + 1.0)


def intensity_source(t):
    """The live source, except 03:00-05:00 UTC, when the agents used the fallback."""
    return "fallback" if 3 <= (t % 86400) / 3600.0 < 5 else "entsoe"


def gen(start, days, outdir):
    steps = int(days * 86400 // STEP)
    series = {}  # key -> (name, labels, [increments])

    def inc(name, labels, i, v):
        key = name + json.dumps(labels, sort_keys=True)
        if key not in series:
            series[key] = (name, labels, [0.0] * (steps + 1))
        series[key][2][i] += v

    for i in range(1, steps + 1):
        t = start + i * STEP
        g_per_j = intensity(t) * PUE / 3.6e6
        for node, nd in NODES.items():
            common = {"node": node, "cluster": nd["cluster"]}
            node_basis = 0.0
            for zone in nd["zones"]:
                for mode in ("active", "idle"):
                    e = zone_w(node, zone, mode, t) * STEP
                    inc("joulepush_node_energy_joules_total",
                        dict(common, zone=zone, mode=mode, source="rapl"), i, e)
                    if basis(node, zone):
                        node_basis += e
                ea = zone_w(node, zone, "active", t) * STEP
                inc("joulepush_system_energy_joules_total", dict(common, zone=zone, mode="active"), i,
                    ea * SYSTEM_SHARE)
                for ns, pod, pn, share, _ in PODS:
                    if pn != node:
                        continue
                    pl = dict(common, namespace=ns, pod=pod, pod_uid="uid-" + pod, zone=zone, mode="active")
                    inc("joulepush_pod_energy_joules_total", pl, i, ea * share)
                    inc("joulepush_namespace_energy_joules_total",
                        dict(common, namespace=ns, zone=zone, mode="active"), i, ea * share)
            inc("joulepush_node_co2_grams_total", dict(common), i, node_basis * g_per_j)
            inc("joulepush_node_converted_energy_joules_total", dict(common, intensity_source=intensity_source(t)), i,
                node_basis)
            inc("joulepush_node_carbon_free_energy_joules_total", dict(common), i, node_basis * cfe(t))
            for ns, pod, pn, share, emb in PODS:
                if pn != node:
                    continue
                pod_basis = sum(zone_w(node, z, "active", t) * STEP * share for z in nd["zones"] if basis(node, z))
                pl = dict(common, namespace=ns, pod=pod, pod_uid="uid-" + pod)
                inc("joulepush_pod_co2_grams_total", pl, i, pod_basis * g_per_j)
                inc("joulepush_namespace_co2_grams_total", dict(common, namespace=ns), i, pod_basis * g_per_j)
                inc("joulepush_pod_carbon_free_energy_joules_total", pl, i, pod_basis * cfe(t))
                inc("joulepush_namespace_carbon_free_energy_joules_total", dict(common, namespace=ns), i,
                    pod_basis * cfe(t))
                if emb:
                    inc("joulepush_pod_embodied_co2_grams_total", pl, i, emb)

    with open(outdir + "/data.om", "w") as om, open(outdir + "/data.jsonl", "w") as vm:
        for name, labels, incs in series.values():
            restart = NODES[labels["node"]]["restart_day"]
            reset_i = int(restart * 86400 // STEP) if restart else None
            v = 0.0
            ts, vals = [], []
            lab = ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels))
            for i in range(steps + 1):
                if i == reset_i:
                    v = 0.0  # the agent restarted right after the previous sample
                v += incs[i]
                t = start + i * STEP
                om.write("%s{%s} %.6f %d\n" % (name, lab, v, t))
                ts.append(t * 1000)
                vals.append(round(v, 6))
            vm.write(json.dumps({"metric": dict(labels, __name__=name), "values": vals, "timestamps": ts}) + "\n")
        om.write("# EOF\n")
    truth = {"start": start, "step": STEP,
             "series": [{"name": n, "labels": l, "inc": incs} for n, l, incs in series.values()]}
    with open(outdir + "/truth.json", "w") as f:
        json.dump(truth, f)


def close(a, b, what):
    if abs(a - b) > 0.01 * max(abs(a), abs(b)) + 1e-9:
        raise SystemExit("%s: report %.6g, expected %.6g (%.2f %% off)" % (what, a, b, 100 * abs(a - b) / max(abs(b), 1e-12)))


def near(a, b, what):
    """Ratios: within 0.005."""
    if a is None or abs(a - b) > 0.005:
        raise SystemExit("%s: report %s, expected %.4f" % (what, a, b))


def check(truth_path, report_path, frm, to, by, match_cluster=None):
    truth = json.load(open(truth_path))
    rep = json.load(open(report_path))
    start, step = truth["start"], truth["step"]
    lo, hi = (frm - start) // step + 1, (to - start) // step  # increments in (from, to]
    sums = {}

    def add(key, v):
        sums[key] = sums.get(key, 0.0) + v

    for s in truth["series"]:
        l, n = s["labels"], s["name"]
        if match_cluster and l["cluster"] != match_cluster:
            continue
        v = sum(s["inc"][lo:hi + 1])
        is_basis = "zone" not in l or basis(l["node"], l["zone"])
        if n == "joulepush_node_energy_joules_total" and is_basis:
            add(("node_e",), v)
            if by in ("node", "cluster"):
                add(("e", l[by]), v)
        elif n == "joulepush_node_co2_grams_total":
            add(("node_co2",), v)
            if by in ("node", "cluster"):
                add(("co2", l[by]), v)
        elif n == "joulepush_system_energy_joules_total" and is_basis:
            add(("system_e",), v)
        elif n == "joulepush_namespace_energy_joules_total" and is_basis and by == "namespace":
            add(("e", l["namespace"]), v)
        elif n == "joulepush_namespace_co2_grams_total" and by == "namespace":
            add(("co2", l["namespace"]), v)
        elif n == "joulepush_pod_energy_joules_total" and is_basis and by == "pod":
            add(("e", l["namespace"] + "/" + l["pod"]), v)
        elif n == "joulepush_pod_co2_grams_total" and by == "pod":
            add(("co2", l["namespace"] + "/" + l["pod"]), v)
        elif n == "joulepush_node_carbon_free_energy_joules_total":
            add(("node_cfe",), v)
            if by in ("node", "cluster"):
                add(("cfe", l[by]), v)
        elif n == "joulepush_namespace_carbon_free_energy_joules_total" and by == "namespace":
            add(("cfe", l["namespace"]), v)
        elif n == "joulepush_pod_carbon_free_energy_joules_total" and by == "pod":
            add(("cfe", l["namespace"] + "/" + l["pod"]), v)
        elif n == "joulepush_node_converted_energy_joules_total":
            add(("src", l["intensity_source"]), v)
        elif n == "joulepush_pod_embodied_co2_grams_total":
            key = {"namespace": l["namespace"], "pod": l["namespace"] + "/" + l["pod"],
                   "node": l["node"], "cluster": l["cluster"]}[by]
            add(("emb", key), v)
    groups = sorted(k[1] for k in sums if k[0] == "e")
    rows = {r[by]: r for r in rep["rows"] if r["kind"] == "row"}
    if sorted(rows) != groups:
        raise SystemExit("rows %s, expected %s" % (sorted(rows), groups))
    for g in groups:
        close(rows[g]["energy_joules"], sums[("e", g)], g + " energy")
        close(rows[g]["energy_kwh"], sums[("e", g)] / 3.6e6, g + " kWh")
        close(rows[g]["co2_grams"], sums.get(("co2", g), 0.0), g + " CO2")
        close(rows[g]["embodied_co2_grams"] or 0.0, sums.get(("emb", g), 0.0), g + " embodied")
        close(rows[g]["share"], sums.get(("co2", g), 0.0) / sums[("node_co2",)], g + " share")
        near(rows[g]["grid_cfe_ratio"], sums[("cfe", g)] / sums[("e", g)], g + " grid_cfe_ratio")
    co2s = [rows[g]["co2_grams"] for g in (r[by] for r in rep["rows"] if r["kind"] == "row")]
    if co2s != sorted(co2s, reverse=True):
        raise SystemExit("rows not sorted by CO2: %s" % co2s)
    total = rep["total"]
    close(total["energy_joules"], sums[("node_e",)], "total energy")
    close(total["co2_grams"], sums[("node_co2",)], "total CO2")
    near(total["grid_cfe_ratio"], sums[("node_cfe",)] / sums[("node_e",)], "total grid_cfe_ratio")
    srcs = {k[1]: v for k, v in sums.items() if k[0] == "src"}
    if sorted(total["intensity_sources"]) != sorted(srcs):
        raise SystemExit("intensity sources %s, expected %s" % (sorted(total["intensity_sources"]), sorted(srcs)))
    for k, v in srcs.items():
        near(total["intensity_sources"][k], v / sum(srcs.values()), "share converted with " + k)
    close(sum(r["energy_joules"] for r in rep["rows"]), sums[("node_e",)], "rows add up to the total energy")
    close(sum(r["co2_grams"] for r in rep["rows"]), sums[("node_co2",)], "rows add up to the total CO2")
    if by in ("namespace", "pod"):
        kinds = {r["kind"]: r for r in rep["rows"] if r["kind"] != "row"}
        close(kinds["system"]["energy_joules"], sums[("system_e",)], "system energy")
        idle = sums[("node_e",)] - sums[("system_e",)] - sum(sums[("e", g)] for g in groups)
        close(kinds["idle"]["energy_joules"], idle, "unattributed idle energy")
        rest_ratio = (sums[("node_cfe",)] - sum(sums[("cfe", g)] for g in groups)) / (
            sums[("node_e",)] - sum(sums[("e", g)] for g in groups))
        for k in ("system", "idle"):
            near(kinds[k]["grid_cfe_ratio"], rest_ratio, k + " grid_cfe_ratio")
    else:
        if any(r["kind"] != "row" for r in rep["rows"]):
            raise SystemExit("a %s report has system or idle rows" % by)
    days = rep["days"]
    if len(days) != math.ceil((to - frm) / 86400):
        raise SystemExit("%d days in the report" % len(days))
    for d, day in enumerate(days):
        a, b = frm + d * 86400, min(frm + (d + 1) * 86400, to)
        dl, dh = (a - start) // step + 1, (b - start) // step
        want = sum(sum(s["inc"][dl:dh + 1]) for s in truth["series"]
                   if s["name"] == "joulepush_node_co2_grams_total"
                   and (not match_cluster or s["labels"]["cluster"] == match_cluster))
        close(day["co2_grams"], want, "CO2 of " + day["day"])
    print("report %s: %d rows, total %.1f kWh, %.1f g, all within 1 %%" % (
        by, len(groups), total["energy_kwh"], total["co2_grams"]))


def market(truth_path, report_path, frm, to, ppa_kwh, go_kwh, rate):
    """The market-based figures of a --by namespace report made with the instruments file of
    test_report.sh: a PPA of 0 g/kWh on cluster c1 supplying ppa_kwh over a period twice the
    range (so half of it falls in the range), a year of guarantees of origin on c2 of which
    go_kwh fall in the range, and the supplier's rate for what they leave; computed here
    from the raw increments by the rule of docs/reports.md (each instrument in order over
    the parts it matches, shared by their uncovered energy)."""
    truth = json.load(open(truth_path))
    rep = json.load(open(report_path))
    start, step = truth["start"], truth["step"]
    lo, hi = (frm - start) // step + 1, (to - start) // step
    cell = {}   # (row, cluster) -> kWh; row None: the rest of the nodes
    node = {}
    for s in truth["series"]:
        l, n = s["labels"], s["name"]
        is_basis = "zone" not in l or basis(l["node"], l["zone"])
        v = sum(s["inc"][lo:hi + 1]) / 3.6e6 * PUE   # the electricity bought (instruments' pue: 1.2)
        if n == "joulepush_namespace_energy_joules_total" and is_basis:
            cell[(l["namespace"], l["cluster"])] = cell.get((l["namespace"], l["cluster"]), 0) + v
        elif n == "joulepush_node_energy_joules_total" and is_basis:
            node[l["cluster"]] = node.get(l["cluster"], 0) + v
    for c, e in node.items():
        cell[(None, c)] = e - sum(v for (r, cc), v in cell.items() if r is not None and cc == c)
    unc = dict(cell)
    used = {}
    for name, cluster, supply in (("wind-ppa", "c1", ppa_kwh / 2), ("go-c2", "c2", go_kwh)):
        keys = [k for k in unc if k[1] == cluster]
        open_ = sum(unc[k] for k in keys)
        u = min(supply, open_)
        used[name] = u
        for k in keys:
            unc[k] -= u * unc[k] / open_ if open_ > 0 else 0
    rows = {r["namespace"]: r for r in rep["rows"] if r["kind"] == "row"}
    for ns, r in rows.items():
        want = sum(unc[k] for k in unc if k[0] == ns) * rate
        close(r["co2_market_grams"], want, ns + " market CO2")
        close(r["matched_energy_kwh"], sum(cell[k] - unc[k] for k in cell if k[0] == ns), ns + " matched kWh")
        close(r["co2_location_grams"], r["co2_grams"], ns + " location CO2")
    rest = [r for r in rep["rows"] if r["kind"] != "row"]
    close(sum(r["co2_market_grams"] for r in rest), sum(unc[k] for k in unc if k[0] is None) * rate, "system + idle market CO2")
    close(rep["total"]["co2_market_grams"], sum(unc.values()) * rate, "total market CO2")
    ins = {i["name"]: i for i in rep["method"]["market"]["instruments"]}
    close(ins["wind-ppa"]["available_kwh"], ppa_kwh / 2, "PPA available")
    close(ins["wind-ppa"]["used_kwh"], used["wind-ppa"], "PPA used")
    close(ins["go-c2"]["available_kwh"], go_kwh, "GO available")
    close(ins["go-c2"]["used_kwh"], used["go-c2"], "GO used")
    close(ins["go-c2"]["excess_kwh"], go_kwh - used["go-c2"], "GO excess")
    if rep["method"]["market"]["supplier_grams_per_kwh"] != rate:
        raise SystemExit("supplier rate %s" % rep["method"]["market"]["supplier_grams_per_kwh"])
    print("report market-based: %d rows, total %.1f g market (%.1f g location), PPA %.3f of %.3f kWh used, "
          "GO %.3f of %.3f kWh used" % (len(rows), rep["total"]["co2_market_grams"], rep["total"]["co2_grams"],
                                        used["wind-ppa"], ppa_kwh / 2, used["go-c2"], go_kwh))


def market_hourly(truth_path, report_path, frm, to, profile_path):
    """The hourly-matched figures of a --by namespace report whose one instrument is a PPA of
    0 g/kWh on cluster c1 with the hourly profile in profile_path, residual mix 380 g/kWh:
    each hour, the PPA covers min(that hour's supply, c1's energy in that hour), shared by
    the parts' energy of the hour; computed here from the raw increments."""
    truth = json.load(open(truth_path))
    rep = json.load(open(report_path))
    start, step = truth["start"], truth["step"]
    supply = {}
    for line in open(profile_path):
        t, kwh = line.strip().split(",")
        supply[int(datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp())] = float(kwh)
    covered, energy, cfe_kwh, day_unc, unc_all = {}, {}, {}, {}, 0.0
    used = available = 0.0
    for t0 in range(frm, to, 3600):
        lo, hi = (t0 - start) // step + 1, (t0 + 3600 - start) // step
        cell, node, node_cfe = {}, {}, 0.0
        for s in truth["series"]:
            l, n = s["labels"], s["name"]
            if "zone" in l and not basis(l["node"], l["zone"]):
                continue
            v = sum(s["inc"][lo:hi + 1]) / 3.6e6
            if n == "joulepush_namespace_energy_joules_total":
                cell[(l["namespace"], l["cluster"])] = cell.get((l["namespace"], l["cluster"]), 0) + v
            elif n == "joulepush_node_energy_joules_total":
                node[l["cluster"]] = node.get(l["cluster"], 0) + v
            elif n == "joulepush_node_carbon_free_energy_joules_total":
                node_cfe += v
        share = node_cfe / sum(node.values())
        for c, e in node.items():
            cell[(None, c)] = max(0.0, e - sum(v for (r, cc), v in cell.items() if r is not None and cc == c))
        sup = supply.get(t0, 0.0)
        available += sup
        open_ = sum(v for k, v in cell.items() if k[1] == "c1")
        u = min(sup, open_)
        used += u
        for k, v in cell.items():
            part = u * v / open_ if k[1] == "c1" and open_ > 0 else 0.0
            covered[k[0]] = covered.get(k[0], 0) + part
            cfe_kwh[k[0]] = cfe_kwh.get(k[0], 0) + part + (v - part) * share
            energy[k[0]] = energy.get(k[0], 0) + v
            unc_all += v - part
            day_unc[(t0 - frm) // 86400] = day_unc.get((t0 - frm) // 86400, 0.0) + v - part
    rows = {r["namespace"]: r for r in rep["rows"] if r["kind"] == "row"}
    for ns, r in rows.items():
        close(r["matched_energy_kwh"], covered.get(ns, 0), ns + " hourly matched kWh")
        close(r["co2_market_grams"], (energy.get(ns, 0) - covered.get(ns, 0)) * 380, ns + " hourly market CO2")
        near(r["cfe_ratio"], cfe_kwh[ns] / energy[ns], ns + " cfe_ratio")
    close(rep["total"]["co2_market_grams"], unc_all * 380, "total hourly market CO2")
    near(rep["total"]["cfe_ratio"], sum(cfe_kwh.values()) / sum(energy.values()), "total cfe_ratio")
    for d, day in enumerate(rep["days"]):
        close(day["co2_market_grams"], day_unc.get(d, 0.0) * 380, "hourly market CO2 of " + day["day"])
    ins = rep["method"]["market"]["instruments"][0]
    close(ins["available_kwh"], available, "PPA available (hourly)")
    close(ins["used_kwh"], used, "PPA used (hourly)")
    assert rep["method"]["market"]["matching"] == "hourly"
    print("report hourly matching: PPA %.4f of %.4f kWh used, total %.1f g market"
          % (used, available, rep["total"]["co2_market_grams"]))


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "market-hourly":
        market_hourly(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    elif sys.argv[1] == "market":
        market(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]),
               float(sys.argv[8]))
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
              sys.argv[7] if len(sys.argv) > 7 else None)
    else:
        raise SystemExit("usage: report_data.py gen|check ...")
