#!/usr/bin/env python3
"""The whole test suite, as CI runs it (through tests/run-all.sh).

Steps: the build, the unit tests (plain and under ASan+UBSan), the bounded fuzz run, the lab
images, then every lab test of the registry tests/lab-tests.txt. Lab tests that name the same
boot group share one boot of the lab (tests/lab/run.sh --plan), in registry order; the others
get a boot each. Independent jobs run side by side as long as the host CPUs they take fit the
machine (--jobs, default: the number of CPUs). A QEMU boot takes as many host CPUs as it
emulates (LAB_SMP, 2): multi-threaded TCG runs each emulated CPU on its own host thread, and
when two boots share too few cores, Xen's vCPUs spin on locks and TLB-flush acknowledgements
held by a descheduled thread. CI measured it (2026-12-07, two 2-CPU boots on 2 cores): the
DMP tests took 4.4-5.5 times as long as alone and the suite 80 minutes instead of 47. A Bochs
boot (--platform vmx) is one thread and takes one CPU.

A lab test that fails is run once more, alone in a fresh boot, and reported loudly: the
emulated machine on a shared host is slow and its timing varies. A test that fails twice
fails. Ends with a per-test time table and "suite: N passed, N failed". Logs: build/test-logs/.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("BUILD", os.path.join(TOP, "build"))
LOGS = os.path.join(BUILD, "test-logs")
RUNS = os.path.join(BUILD, "lab", "runs")
REGISTRY = os.path.join(TOP, "tests", "lab-tests.txt")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class LabTest:
    """One line of the registry."""

    def __init__(self, name, scenario, timeout, opts, lineno):
        self.name, self.scenario, self.timeout = name, scenario, timeout
        self.env, self.mem, self.boot, self.platform, self.smp = [], 2048, None, "svm", None
        self.expect_exit, self.expect, self.boots = 0, [], None
        where = f"{REGISTRY}:{lineno}"
        i = 0
        while i < len(opts):
            o = opts[i]
            if i + 1 >= len(opts):
                raise SystemExit(f"{where}: option {o} needs a value")
            v = opts[i + 1]
            i += 2
            if o == "--set":
                if not re.fullmatch(r"[A-Z_][A-Z0-9_]*=[-A-Za-z0-9_.,:/]*", v):
                    raise SystemExit(f"{where}: --set wants KEY=VALUE, not '{v}'")
                self.env.append(v)
            elif o == "--mem":
                self.mem = int(v)
            elif o == "--boot":
                self.boot = v
            elif o == "--smp":
                if v not in ("1", "2", "3", "4"):
                    raise SystemExit(f"{where}: --smp is 1..4 emulated CPUs, not '{v}'")
                self.smp = int(v)
            elif o == "--platform":
                if v not in ("svm", "vmx"):
                    raise SystemExit(f"{where}: --platform is svm or vmx, not '{v}'")
                self.platform = v
            elif o == "--expect-exit":
                self.expect_exit = int(v)
            elif o == "--expect":
                self.expect.append(v)
            elif o == "--boots":
                key, _, vals = v.partition("=")
                self.boots = [f"{key}={x}" for x in vals.split(",")]
            else:
                raise SystemExit(f"{where}: unknown option {o}")
        if self.boot and (self.boots or self.expect_exit == 124):
            raise SystemExit(f"{where}: a test with --boots or a whole-boot timeout runs alone, not in --boot")

    @property
    def rundir(self):
        return os.path.join(RUNS, self.name)


def read_registry():
    tests = []
    with open(REGISTRY) as f:
        for lineno, line in enumerate(f, 1):
            words = shlex.split(line, comments=True)
            if not words:
                continue
            if len(words) < 3 or not words[2].isdigit():
                raise SystemExit(f"{REGISTRY}:{lineno}: want NAME SCENARIO TIMEOUT [options]")
            tests.append(LabTest(words[0], words[1], int(words[2]), words[3:], lineno))
    names = [t.name for t in tests]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SystemExit(f"{REGISTRY}: test names used twice: {' '.join(sorted(dup))}")
    return tests


class Job:
    def __init__(self, name, cpus, run, deps=()):
        self.name, self.cpus, self.run, self.deps = name, cpus, run, set(deps)
        self.start = self.end = None


class Suite:
    def __init__(self, jobs_cap):
        self.cap = jobs_cap
        self.results = {}          # test name -> dict(status, seconds, attempts, boot)
        self.order = []
        self.lock = threading.Lock()

    # ---- recording ----
    def record(self, name, ok, seconds, attempts=1, where="", note="", skipped=False):
        with self.lock:
            if name not in self.results:
                self.order.append(name)
            self.results[name] = dict(ok=ok, skipped=skipped, seconds=seconds, attempts=attempts,
                                      where=where, note=note)
        word = "SKIP" if skipped else "PASS" if ok else "FAIL"
        why = f": {note}" if skipped else ""
        log(f"{word} {name} ({seconds}s{', attempt ' + str(attempts) if attempts > 1 else ''}){why}")

    # ---- plain steps ----
    def step(self, name, argv):
        def run():
            t0 = time.time()
            with open(os.path.join(LOGS, name + ".log"), "w") as out:
                rc = subprocess.call(argv, cwd=TOP, stdout=out, stderr=subprocess.STDOUT)
            ok = rc == 0
            self.record(name, ok, round(time.time() - t0))
            if not ok:
                tail(os.path.join(LOGS, name + ".log"))
            return ok
        return run

    # ---- lab ----
    def run_boot(self, boot_id, tests, attempt):
        """One boot of the lab running tests (in order); records each test's result."""
        plan = os.path.join(BUILD, "lab", f"plan-{boot_id}")
        os.makedirs(os.path.dirname(plan), exist_ok=True)
        with open(plan, "w") as f:
            for t in tests:
                f.write(f"{t.name} {t.scenario} {t.timeout} {' '.join(t.env)}\n")
        mem = max(t.mem for t in tests)
        blog = os.path.join(LOGS, f"boot-{boot_id}.log")
        t0 = time.time()
        with open(blog, "w") as out:
            subprocess.call(["tests/lab/run.sh", "--plan", plan, "--run-id", boot_id, "--mem", str(mem),
                             "--platform", tests[0].platform],
                            cwd=TOP, stdout=out, stderr=subprocess.STDOUT, env=lab_env(tests))
        wall = round(time.time() - t0)
        failed = []
        for t in tests:
            why = read_text(os.path.join(t.rundir, "skipped")).strip()
            if why:
                self.record(t.name, True, 0, attempt, boot_id, why, skipped=True)
                continue
            ok, why = self.judge(t, blog)
            secs = read_int(os.path.join(t.rundir, "elapsed"), wall)
            with open(os.path.join(LOGS, t.name + ".log"), "a" if attempt > 1 else "w") as out:
                out.write(f"== attempt {attempt}, boot {boot_id} ({wall}s), test {secs}s: {'ok' if ok else why}\n")
                out.write(read_text(blog))
            if ok or attempt > 1:
                self.record(t.name, ok, secs, attempt, boot_id, "" if ok else why)
                if not ok:
                    tail(os.path.join(LOGS, t.name + ".log"))
            else:
                failed.append(t)
        self.boot_times[boot_id] = wall
        return failed

    def judge(self, t, blog):
        rc = read_int(os.path.join(t.rundir, "exit-code"), None)
        if rc is None:
            return False, "no exit code (boot timed out or died)"
        if rc != t.expect_exit:
            return False, f"exit {rc}, expected {t.expect_exit}"
        text = read_text(blog) + read_text(os.path.join(t.rundir, "scenario.log"))
        for p in t.expect:
            if not re.search(p, text):
                return False, f"no output matching '{p}'"
        check = os.path.join(TOP, "tests", "lab", "checks", t.scenario)
        if t.expect_exit == 0 and os.access(check, os.X_OK):
            with open(os.path.join(LOGS, t.name + ".check.log"), "w") as out:
                if subprocess.call([check, t.rundir], cwd=TOP, stdout=out, stderr=subprocess.STDOUT) != 0:
                    return False, f"host-side check {check} failed"
        return True, ""

    def run_alone(self, t, attempt):
        """A test in a boot of its own, as run.sh --scenario (whole-boot timeout, --boots)."""
        t0 = time.time()
        lg = os.path.join(LOGS, t.name + ".log")
        ok, why = True, ""
        with open(lg, "a" if attempt > 1 else "w") as out:
            out.write(f"== attempt {attempt}\n")
            for i, extra in enumerate(t.boots or [None]):
                run_id = t.name if extra is None else f"{t.name}-{i + 1}"
                argv = ["tests/lab/run.sh", "--scenario", t.scenario, "--timeout", str(t.timeout),
                        "--run-id", run_id, "--mem", str(t.mem), "--platform", t.platform]
                for kv in t.env + ([extra] if extra else []):
                    argv += ["--set", kv]
                out.flush()
                p = subprocess.run(argv, cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=lab_env([t]))
                out.write(p.stdout)
                if p.returncode == 77:
                    why = read_text(os.path.join(RUNS, run_id, "skipped")).strip()
                    self.record(t.name, True, 0, attempt, "alone", why, skipped=True)
                    return True
                if p.returncode != t.expect_exit:
                    ok, why = False, f"{run_id}: exit {p.returncode}, expected {t.expect_exit}"
                    break
                bad = [x for x in t.expect if not re.search(x, p.stdout)]
                if bad:
                    ok, why = False, f"{run_id}: no output matching '{bad[0]}'"
                    break
        secs = round(time.time() - t0)
        if ok or attempt > 1:
            self.record(t.name, ok, secs, attempt, "alone", why)
            if not ok:
                tail(lg)
        return ok


def read_int(path, default):
    try:
        return int(open(path).read().strip())
    except (OSError, ValueError):
        return default


def read_text(path):
    try:
        return open(path, errors="replace").read()
    except OSError:
        return ""


def tail(path, n=60):
    lines = read_text(path).splitlines()[-n:]
    print(f"    last lines of {path}:", file=sys.stderr)
    for line in lines:
        print("    " + line, file=sys.stderr)


def smp_of(tests):
    """Emulated CPUs of the boot that runs these tests: the largest any of them asks for."""
    asked = [t.smp for t in tests if t.smp]
    return max(asked) if asked else int(os.environ.get("LAB_SMP", "2"))


def lab_env(tests):
    return dict(os.environ, LAB_SMP=str(smp_of(tests)))


def host_cpus(tests):
    """Host CPUs a boot takes: one thread per emulated CPU under QEMU, one for Bochs."""
    return 1 if tests[0].platform == "vmx" else smp_of(tests)


def schedule(suite, jobs):
    """Run jobs as their dependencies allow, in list order, while their CPUs fit the cap.
    A job is a Job whose run() returns True/False; a False step fails its dependents."""
    pending = list(jobs)
    running = {}
    done, failed = set(), set()
    cond = threading.Condition()

    def wrap(j):
        try:
            ok = j.run()
        except Exception as e:  # a crash of the runner itself must not hang the suite
            log(f"{j.name}: runner error {e!r}")
            ok = False
        with cond:
            j.end = time.time()
            del running[j.name]
            (done if ok else failed).add(j.name)
            cond.notify_all()

    with cond:
        while pending or running:
            used = sum(j.cpus for j in running.values())
            started = False
            for j in list(pending):
                if j.deps & failed:
                    pending.remove(j)
                    failed.add(j.name)
                    log(f"SKIP {j.name}: {' '.join(sorted(j.deps & failed))} failed")
                    started = True
                    continue
                if not j.deps <= done:
                    continue
                # A job wider than the machine runs alone.
                if running and used + j.cpus > suite.cap:
                    continue
                pending.remove(j)
                j.start = time.time()
                running[j.name] = j
                threading.Thread(target=wrap, args=(j,), daemon=True).start()
                used += j.cpus
                started = True
            if not started:
                cond.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("SUITE_JOBS", os.cpu_count() or 1)),
                    help="CPUs the side-by-side jobs may keep busy (default: all)")
    ap.add_argument("--only", nargs="+", metavar="TEST", help="run only these lab tests (after the build)")
    ap.add_argument("--no-unit", action="store_true", help="skip the unit, sanitizer and fuzz steps")
    ap.add_argument("--list", action="store_true", help="list the lab tests and their boots, then exit")
    ap.add_argument("--platform", choices=("svm", "vmx"),
                    help="run every selected lab test on this platform (default: each test's own)")
    args = ap.parse_args()

    tests = read_registry()
    if args.platform:
        for t in tests:
            t.platform = args.platform
    if args.only:
        unknown = set(args.only) - {t.name for t in tests}
        if unknown:
            raise SystemExit(f"no such lab test: {' '.join(sorted(unknown))}")
        tests = [t for t in tests if t.name in args.only]
    # Boots: a group's tests in registry order, at the place of its first test.
    boots, by_group = [], {}
    for t in tests:
        if t.boot:
            key = t.boot + ("" if t.platform == "svm" else "-" + t.platform)
            if key not in by_group:
                by_group[key] = []
                boots.append(("boot-" + key, by_group[key]))
            by_group[key].append(t)
        else:
            boots.append((None, [t]))
    if args.list:
        for b, ts in boots:
            print(f"{b or 'alone':24} {' '.join(t.name for t in ts)}")
        return 0

    shutil.rmtree(LOGS, ignore_errors=True)
    os.makedirs(LOGS)
    suite = Suite(max(1, args.jobs))
    suite.boot_times = {}
    t_start = time.time()
    make = ["make", f"-j{os.cpu_count() or 1}"]
    jobs = [Job("build", 2, suite.step("build", make + ["all"]))]
    jobs.append(Job("lab-build", 2, suite.step("lab-build", ["make", "lab"]), deps=["build"]))
    lab_jobs = []
    for b, ts in boots:
        cpus = host_cpus(ts)
        if b is None:
            t = ts[0]
            lab_jobs.append(Job(t.name, cpus, lambda t=t: lab_alone(suite, t), deps=["lab-build"]))
        else:
            lab_jobs.append(Job(b, cpus, lambda b=b, ts=ts: lab_group(suite, b, ts), deps=["lab-build"]))
    jobs += lab_jobs
    if not args.no_unit:
        # After the lab boots in the queue: they are the long poles; these fill the gaps.
        jobs.append(Job("unit", 1, suite.step("unit", ["make", "unit"]), deps=["build"]))
        jobs.append(Job("unit-sanitizers", 1, suite.step("unit-sanitizers", make + ["SAN=1", "unit"]), deps=["build"]))
        if os.access(os.path.join(TOP, "dmp-patcher/fuzz/run.sh"), os.X_OK):
            jobs.append(Job("fuzz-kimage", 1, suite.step("fuzz-kimage", ["dmp-patcher/fuzz/run.sh", "60"]), deps=["build"]))
    schedule(suite, jobs)

    total = round(time.time() - t_start)
    report(suite, jobs, total)
    failed = [n for n in suite.order if not suite.results[n]["ok"]]
    skipped = [n for n in suite.order if suite.results[n].get("skipped")]
    if failed:
        log("failed: " + " ".join(failed))
    passed = len(suite.order) - len(failed) - len(skipped)
    print(f"suite: {passed} passed, {len(failed)} failed, {len(skipped)} skipped in {total // 60} min {total % 60} s")
    return 1 if failed else 0


def lab_group(suite, boot_id, tests):
    failed = suite.run_boot(boot_id, tests, 1)
    for t in failed:
        log(f"RETRY: {t.name} failed in boot {boot_id}; running it again alone")
        keep = t.rundir + ".first"
        shutil.rmtree(keep, ignore_errors=True)
        if os.path.isdir(t.rundir):
            os.rename(t.rundir, keep)
        suite.run_boot(t.name + "-retry", [t], 2)
    return True


def lab_alone(suite, t):
    if suite.run_alone(t, 1):
        return True
    log(f"RETRY: {t.name} failed on its first attempt")
    return suite.run_alone(t, 2)


def report(suite, jobs, total):
    """The per-test time table (also written as JSON beside the logs)."""
    rows = []
    for n in suite.order:
        r = suite.results[n]
        res = "skip" if r.get("skipped") else "ok" if r["ok"] else "FAIL"
        rows.append((n, res, r["seconds"], r["attempts"], r["where"]))
    print("\n test                         result  seconds  attempts  boot")
    for n, res, s, a, w in rows:
        print(f" {n:28} {res:6} {s:8}  {a:8}  {w}")
    if suite.boot_times:
        print("\n boot                         seconds (whole boot: start, tests, shutdown)")
        for b, s in suite.boot_times.items():
            print(f" {b:28} {s:8}")
    busy = sum((j.end or j.start or 0) - (j.start or 0) for j in jobs if j.start)
    print(f"\n wall {total} s; jobs ran {round(busy)} s in all ({busy / max(total, 1):.2f} at a time on average)")
    with open(os.path.join(LOGS, "times.json"), "w") as f:
        json.dump(dict(total=total, tests=suite.results, boots=suite.boot_times), f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
