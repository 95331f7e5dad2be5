#!/usr/bin/env python3
"""Summarise a lab run of the page-table workload: per mode and phase, time per operation
(as a ratio to HAP in the same run) and hypervisor events per operation.

usage: report.py RUN_DIR [--markdown] [--json] [--check]
  --check  exit 1 unless every guest passed its own checks, the shadow guest shows page-table
           write emulations and the HAP guest shows (almost) none.
"""
import json
import os
import sys

MODES = ["pv", "pvh-hap", "pvh-shadow", "pvh-shadow-dmp", "hvm-hap", "hvm-shadow"]


def emulations(c):
    # Xen counts an emulated guest page-table write on one of two paths.
    return c.get("shadow_fault emulates a write", 0) + c.get("shadow_fault fast emulate", 0)


def total(c, name):
    v = c.get(name, 0)
    return v["total"] if isinstance(v, dict) else v


def by_index(c, name, key):
    v = c.get(name)
    return v.get("by_index", {}).get(key, 0) if isinstance(v, dict) else 0


def pf_exits(c):
    """#PF VM exits on either vendor: SVM counts them by exit code, VMX by exception vector
    (its exit reason 0 covers every exception and NMI)."""
    return by_index(c, "vmexits", "0x4e:EXCP_PF") + by_index(c, "cause vector", "0xe")


def load(run_dir):
    rows, guests = [], {}
    for mode in MODES:
        path = os.path.join(run_dir, mode + ".json")
        if not os.path.exists(path):
            continue
        g = json.load(open(path))
        guests[mode] = g
        for ph in g.get("phases", []):
            r, c = ph.get("result") or {}, ph.get("counters") or {}
            ops = r.get("ops") or 0
            if not ops:
                continue
            rows.append({
                "mode": mode, "phase": r.get("phase"), "ops": ops, "ok": r.get("ok", False),
                "ns_per_op": r.get("ns_per_op", 0),
                "exits_per_op": total(c, "vmexits") / ops,
                "pf_exits_per_op": pf_exits(c) / ops,
                "pt_emulations_per_op": emulations(c) / ops,
                "shadow_faults_per_op": c.get("calls to shadow_fault", 0) / ops,
                "hypercalls_per_op": total(c, "hypercalls") / ops,
                "pv_traps_per_op": (total(c, "exceptions") / ops) if mode == "pv" else 0.0,
                "minflt_per_op": r.get("minflt", 0) / ops,
            })
    hap = {r["phase"]: r["ns_per_op"] for r in rows if r["mode"] == "pvh-hap"}
    for r in rows:
        base = hap.get(r["phase"])
        r["time_vs_hap"] = (r["ns_per_op"] / base) if base else None
    return rows, guests


def table(rows, markdown):
    cols = [("mode", "mode", "{}"), ("phase", "phase", "{}"), ("time_vs_hap", "time/op vs HAP", "{:.2f}x"),
            ("exits_per_op", "VM exits/op", "{:.1f}"), ("pf_exits_per_op", "#PF exits/op", "{:.1f}"),
            ("pt_emulations_per_op", "PT-write emul./op", "{:.2f}"),
            ("hypercalls_per_op", "hypercalls/op", "{:.1f}"), ("pv_traps_per_op", "PV traps/op", "{:.1f}")]
    out = []
    cells = [[(fmt.format(r[k]) if r[k] is not None else "-") for k, _, fmt in cols] for r in rows]
    heads = [h for _, h, _ in cols]
    if markdown:
        out.append("| " + " | ".join(heads) + " |")
        out.append("|" + "|".join("---" for _ in heads) + "|")
        out += ["| " + " | ".join(c) + " |" for c in cells]
    else:
        w = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(heads)]
        out.append("  ".join(h.ljust(w[i]) for i, h in enumerate(heads)))
        out += ["  ".join(c[i].ljust(w[i]) for i in range(len(heads))) for c in cells]
    return "\n".join(out)


def check(rows, guests):
    problems = []
    for mode, g in guests.items():
        if not g.get("ok"):
            problems.append(f"{mode}: guest failed: {g.get('error') or 'workload reported a failure'}")
    for want in ("pvh-shadow", "pvh-hap", "pv"):
        if want not in guests:
            problems.append(f"{want}: no result")
    shadow = [r for r in rows if r["mode"] == "pvh-shadow" and r["phase"] in ("forkexec", "mmap", "fork")]
    hap = [r for r in rows if r["mode"] == "pvh-hap"]
    if not shadow or not any(r["pt_emulations_per_op"] >= 1 for r in shadow):
        problems.append("pvh-shadow: no page-table write emulations counted (is shadow paging on?)")
    for r in hap:
        if r["pt_emulations_per_op"] > 0.01 or r["shadow_faults_per_op"] > 0.01:
            problems.append(f"pvh-hap/{r['phase']}: {r['pt_emulations_per_op']:.2f} emulations/op under HAP")
    return problems


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    run_dir = argv[1]
    if not os.path.isdir(run_dir):
        print(f"report.py: no such run directory: {run_dir}", file=sys.stderr)
        return 2
    rows, guests = load(run_dir)
    if "--json" in argv:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows, "--markdown" in argv))
    if "--check" in argv:
        problems = check(rows, guests)
        for p in problems:
            print("CHECK FAILED: " + p, file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
