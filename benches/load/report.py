#!/usr/bin/env python3
"""The load benchmark's tables (run by run.sh), from its results files.

    report.py runs RESULTS.tsv H2_STREAMS   per run, medians over rounds, ratios round by round
    report.py paired PAIRED.tsv PROXY_CPU   the paired rounds, per reference

RESULTS.tsv (measure.sh): scenario, tool, round, req/s, p50, p99, non-2xx,
errors, CPU µs per request. PAIRED.tsv (paired.sh): reference, scenario,
round, requests (reference, scenario), CPU ns (reference, scenario), seconds.
"""
import statistics
import sys


def read(path):
    return [line.rstrip("\n").split("\t") for line in open(path)]


def per_run(rows):
    print()
    print("Per run (non-2xx for gw-deny are the expected 403s; h2load 'errors' = failed+errored+timeout):")
    w = max([12] + [len(r[0]) for r in rows])
    line = f"{{:<{w}}} {{:<12}} {{:>5}} {{:>9}} {{:>9}} {{:>9}} {{:>8}} {{:<12}} {{:>9}}"
    print(line.format("scenario", "tool", "round", "req/s", "p50", "p99", "non-2xx", "errors", "cpu-us/req"))
    for r in rows:
        print(line.format(*(r + [""] * 9)[:9]))


def runs(rows, h2_streams):
    # Closed loop (throughput): wrk, or h2load with -m streams for h2; fixed rate: h2load@RATE.
    def closed(tool):
        return tool == "wrk" or tool.startswith("h2load-m")
    def fixed(tool):
        return tool.startswith("h2load@")
    def med(name, kind, col):
        vals = [float(r[col]) for r in rows if r[0] == name and kind(r[1])]
        return statistics.median(vals) if vals else float("nan")
    def ms(text):
        for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
            if text.endswith(unit):
                return float(text[: -len(unit)]) * scale
        return float("inf")
    def lat(name, kind, col):
        vals = sorted((r[col] for r in rows if r[0] == name and kind(r[1])), key=ms)
        return vals[len(vals) // 2] if vals else "-"
    def ratio(a, b):
        return a / b if b > 0 else float("nan")
    # A TLS scenario's group is its prefix; its ratios are to its group's
    # pass-through and nginx (tls-passthrough, tls-nginx, …).
    TITLES = {
        "tls": "TLS, HTTP/1.1 keep-alive (closed loop: wrk; fixed rate: h2load --h1)",
        "h2": f"TLS, HTTP/2 (closed loop: h2load, {h2_streams} streams per connection; fixed rate: h2load)",
        "hs": "TLS, a new connection per request (closed loop: wrk, Connection: close, "
              "resumed sessions; fixed rate: h2load --h1 -r connections/s, full handshakes)",
    }
    def group(name):
        prefix = name.split("-", 1)[0]
        return prefix if prefix in TITLES and "-" in name else ""
    def ref(g, proxy):
        return f"{g}-{proxy}" if g else proxy
    names = list(dict.fromkeys(r[0] for r in rows))
    groups = list(dict.fromkeys(group(n) for n in names))
    for g in groups:
        members = [n for n in names if group(n) == g]
        pt, ngx = ref(g, "passthrough"), ref(g, "nginx")
        base_rps, base_cpu = med(pt, closed, 3), med(pt, fixed, 8)
        if not g:
            # nginx-authz (nginx auth_request + a no-op authorizer, both
            # processes' CPU): what the gateway replaces; "cpu vs authz" is each
            # scenario's CPU per request ÷ its (the goal for the gateway: ≤ 0.75).
            # cerbos-authz (the same with the adapter and Cerbos, three
            # processes' CPU): "cpu vs cerbos", the goal for the gateway ≤ 0.5.
            authz = "nginx-authz" in members
            authz_cpu = med("nginx-authz", fixed, 8)
            cerbos = "cerbos-authz" in members
            cerbos_cpu = med("cerbos-authz", fixed, 8)
            w = max([12] + [len(n) for n in members])
            print()
            print("Medians over rounds (ratio: req/s vs passthrough, wrk; cpu vs passthrough, h2load"
                  + ("; cpu vs authz: ÷ nginx-authz's, proxy + authorizer, goal for gw-* ≤ 0.75" if authz else "")
                  + ("; cpu vs cerbos: ÷ cerbos-authz's, proxy + adapter + Cerbos, goal for gw-* ≤ 0.5" if cerbos else "")
                  + "):")
            print(f"{'scenario':<{w}} {'wrk req/s':>10} {'ratio':>6} {'wrk p50':>9} {'wrk p99':>9} "
                  f"{'fixed p50':>9} {'fixed p99':>9} {'cpu-us/req':>10} {'cpu ratio':>9}"
                  + (f" {'cpu vs authz':>12}" if authz else "") + (f" {'cpu vs cerbos':>13}" if cerbos else ""))
            for n in members:
                rps, cpu = med(n, closed, 3), med(n, fixed, 8)
                print(f"{n:<{w}} {rps:>10.0f} {ratio(rps, base_rps):>6.2f} {lat(n, closed, 4):>9} {lat(n, closed, 5):>9} "
                      f"{lat(n, fixed, 4):>9} {lat(n, fixed, 5):>9} {cpu:>10.1f} {ratio(cpu, base_cpu):>9.2f}"
                      + (f" {ratio(cpu, authz_cpu):>12.2f}" if authz else "")
                      + (f" {ratio(cpu, cerbos_cpu):>13.2f}" if cerbos else ""))
            continue
        print()
        print(f"{TITLES[g]}; ratios to {pt} and to {ngx}:")
        ngx_rps, ngx_cpu = med(ngx, closed, 3), med(ngx, fixed, 8)
        print(f"{'scenario':<15} {'req/s':>10} {'ratio':>6} {'p50':>9} {'p99':>9} "
              f"{'fixed p50':>9} {'fixed p99':>9} {'cpu-us/req':>10} {'cpu ratio':>9} {'vs nginx':>8} {'cpu vs ngx':>10}")
        for n in members:
            rps, cpu = med(n, closed, 3), med(n, fixed, 8)
            print(f"{n:<15} {rps:>10.0f} {ratio(rps, base_rps):>6.2f} {lat(n, closed, 4):>9} {lat(n, closed, 5):>9} "
                  f"{lat(n, fixed, 4):>9} {lat(n, fixed, 5):>9} {cpu:>10.1f} {ratio(cpu, base_cpu):>9.2f} "
                  f"{ratio(rps, ngx_rps):>8.2f} {ratio(cpu, ngx_cpu):>10.2f}")
    # The same ratio round by round (each pair of closed-loop runs close in time).
    def per_round(name, base):
        by_round = {}
        for r in rows:
            if closed(r[1]) and r[0] in (name, base):
                by_round.setdefault(r[2], {})[r[0]] = float(r[3])
        return [v[name] / v[base] for _, v in sorted(by_round.items(), key=lambda kv: int(kv[0]))
                if name in v and base in v and v[base] > 0]
    print()
    if groups == [""]:
        print("wrk req/s vs passthrough, round by round (median):")
    else:
        print("closed-loop req/s vs the pass-through of the same group, round by round (median):")
    width = max(12, *(len(n) for n in names))
    for n in names:
        base = ref(group(n), "passthrough")
        if n == base:
            continue
        ratios = per_round(n, base)
        if ratios:
            print(f"{n:<{width}} {' '.join(f'{x:.2f}' for x in ratios)}  (median {statistics.median(ratios):.2f})")


def paired(rows, cpu):
    def ratio(a, b):
        return a / b if b > 0 else float("nan")
    # Pairs with the pass-through: its CPU per request ÷ the scenario's (the
    # throughput ratio). With nginx-authz: the gateway's ÷ nginx-authz's (the
    # cost ratio; the goal is at most 0.75); with cerbos-authz the same (the
    # goal is at most 0.5).
    what = {
        "nginx-authz": ("nginx auth_request + a no-op authorizer answering 204, their CPU summed", 0.75),
        "cerbos-authz": ("nginx auth_request + the adapter + Cerbos, their CPU summed", 0.5),
    }
    for ref in dict.fromkeys(r[0] for r in rows):
        print()
        if ref == "passthrough":
            print(f"Paired rounds (each with the pass-through, both loaded at once on CPU {cpu}; CPU from schedstat):")
            print(f"{'scenario':<12} {'round':>5} {'pt req/s':>9} {'req/s':>9} {'pt us/req':>9} {'us/req':>9} "
                  f"{'core busy':>9} {'cost ratio':>10}")
        else:
            print(f"Paired rounds with {ref} ({what[ref][0]}), both loaded at once on CPU {cpu}; CPU from schedstat:")
            print(f"{'scenario':<12} {'round':>5} {'authz req/s':>11} {'req/s':>9} {'authz us/req':>12} {'us/req':>9} "
                  f"{'core busy':>9} {'gw ÷ authz':>10}")
        by_name = {}
        for _, name, rnd, na, nb, ca, cb, secs in (r for r in rows if r[0] == ref):
            na, nb, ca, cb, secs = int(na), int(nb), int(ca), int(cb), float(secs)
            ua, ub = ratio(ca / 1e3, na), ratio(cb / 1e3, nb)
            if ref == "passthrough":
                x = ratio(ua, ub)
                print(f"{name:<12} {rnd:>5} {na / secs:>9.0f} {nb / secs:>9.0f} {ua:>9.1f} {ub:>9.1f} "
                      f"{(ca + cb) / 1e9 / secs:>8.0%} {x:>10.3f}")
            else:
                x = ratio(ub, ua)
                print(f"{name:<12} {rnd:>5} {na / secs:>11.0f} {nb / secs:>9.0f} {ua:>12.1f} {ub:>9.1f} "
                      f"{(ca + cb) / 1e9 / secs:>8.0%} {x:>10.3f}")
            by_name.setdefault(name, []).append(x)
        print()
        if ref == "passthrough":
            print("cost ratio (pass-through CPU per request ÷ the scenario's; control: a second pass-through):")
        else:
            print(f"gateway CPU ÷ {ref} CPU, per request, same interval (goal: ≤ {what[ref][1]}):")
        for name, ratios in by_name.items():
            print(f"{name:<12} {' '.join(f'{x:.3f}' for x in ratios)}  (median {statistics.median(ratios):.3f})")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "runs":
        rows = read(sys.argv[2])
        per_run(rows)
        runs(rows, sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "paired":
        paired(read(sys.argv[2]), sys.argv[3])
    else:
        sys.exit("usage: report.py runs RESULTS.tsv H2_STREAMS | report.py paired PAIRED.tsv PROXY_CPU")
