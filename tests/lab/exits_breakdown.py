#!/usr/bin/env python3
"""Where the exits of a shadow guest's operation go (SVM exit codes: the lab runs on AMD): per guest and phase of a lab run, Xen's
perf counters per operation, grouped as in docs/DMP.md's exit budget (shadow fills, reflected
guest faults, emulated page-table writes, out-of-sync unsyncs, CR3/INVLPG, DMP fast path).

usage: exits_breakdown.py RUN_DIR [--markdown] [GUEST...]
  GUEST defaults to pvh-shadow and pvh-shadow-dmp (dmp-fastpath-measure's two guests).
"""
import json
import os
import sys

from report import by_index, total   # the perf counter readers of the main report


# (label, function of the counters); names as Xen 4.17's perfc_defn.h prints them.
ROWS = [
    ("VM exits", lambda c: total(c, "vmexits")),
    ("#PF exits (calls to shadow_fault)", lambda c: total(c, "calls to shadow_fault")),
    ("- shadow fills (fixed fault)", lambda c: total(c, "shadow_fault fixed fault")),
    ("- emulated PT writes", lambda c: total(c, "shadow_fault emulates a write") +
     total(c, "shadow_fault fast emulate")),
    ("- reflected to the guest", lambda c: total(c, "shadow_fault really guest fault") +
     total(c, "shadow_fault fast path n/p")),
    ("OOS unsyncs", lambda c: total(c, "shadow OOS unsyncs")),
    ("OOS resyncs", lambda c: total(c, "shadow OOS resyncs")),
    ("CR3 write exits", lambda c: by_index(c, "vmexits", "0x13:CR3_WRITE")),
    ("INVLPG exits", lambda c: by_index(c, "vmexits", "0x79:INVLPG")),
    ("hypercalls", lambda c: total(c, "hypercalls")),
    ("fast path stores", lambda c: total(c, "dmp fastpath stores")),
    ("fast path log flushes", lambda c: total(c, "dmp fastpath log flushes")),
    ("fast path rejected", lambda c: total(c, "dmp fastpath rejected calls")),
    ("shadow_validate_gl1e", lambda c: total(c, "calls to shadow_validate_gl1e")),
]


def main(argv):
    md = "--markdown" in argv
    args = [a for a in argv[1:] if not a.startswith("--")]
    if not args:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    run, guests = args[0], args[1:] or ["pvh-shadow", "pvh-shadow-dmp"]
    cols = []   # (title, counters, ops, ns_per_op)
    for g in guests:
        path = os.path.join(run, g + ".json")
        if not os.path.exists(path):
            print(f"{path}: missing", file=sys.stderr)
            continue
        for ph in json.load(open(path)).get("phases", []):
            r, c = ph.get("result") or {}, ph.get("counters") or {}
            if r.get("ops"):
                ok = "ok" if r.get("ok") else "FAILED"
                cols.append((f"{g} {r.get('phase')} ({ok})", c, r["ops"], r.get("ns_per_op", 0)))
    if not cols:
        print("no phases with operations", file=sys.stderr)
        return 1
    rows = [(label, [f(c) / ops for _, c, ops, _ in cols]) for label, f in ROWS]
    rows.append(("guest time per op (ms)", [ns / 1e6 for _, _, _, ns in cols]))
    rows.append(("operations", [float(ops) for _, _, ops, _ in cols]))
    if md:
        print("| per operation | " + " | ".join(t for t, *_ in cols) + " |")
        print("|---" * (len(cols) + 1) + "|")
        for label, vals in rows:
            print(f"| {label} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
    else:
        w = max(len(label) for label, _ in rows)
        print(" " * w + "  " + "  ".join(f"{t:>28}" for t, *_ in cols))
        for label, vals in rows:
            print(f"{label:<{w}}  " + "  ".join(f"{v:>28.1f}" for v in vals))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
