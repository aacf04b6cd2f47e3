#!/usr/bin/env python3
"""SIGKILL at the Nth durability syscall of one update (docs/testing.md §9, issue #14 item 6).

Named crash points are where we thought of putting them; this test kills where the syscalls are.
One update (1.1.0 from a full bundle over a running 1.0.0) runs with ferryd under strace:
  1. a plain `strace -f` run counts the calls of each class the update makes, per tracee (strace
     counts `when=N` per thread or process, so N goes up to the largest count of one tracee):
       rename    rename, renameat, renameat2
       unlink    unlink, unlinkat
       fsync     fsync, fdatasync
       execve    the execve of runc (in the child ferryd forks for it)
  2. for each class and each N (or a seeded sample of at most --per-class of them, seed printed):
     - rename, unlink, fsync: `strace -f -e inject=<calls>:signal=KILL:when=N`: the first tracee
       that makes its Nth such call is killed at its entry, before the call runs. That is a
       thread of ferryd (and so all of ferryd) or a runc ferryd started (runc killed mid-way,
       ferryd sees it fail);
     - execve: strace reports each execve of runc, and ferryd is SIGKILLed right when the Nth is
       reported (strace counts execve per process, each runc child makes one, so inject cannot
       pick the Nth).
     Then ferryd is started again (without strace) if it died, must converge, and the oracle
     (oracle.py) must find nothing; the running version is 1.0.0 or 1.1.0, and 1.1.0, interrupted,
     is not marked bad unless its own runc was killed.

Run: sudo tests/campaign/strace_kill_test.py -v   (build first). FERRY_STRACE_SEED=S picks the
sample, FERRY_STRACE_PER_CLASS=K its size (0: every N). Needs root, runc, busybox-static,
e2fsprogs, strace; exit status 77 (skipped) when they are missing, unless
FERRY_REQUIRE_PREREQUISITES is set.
"""

import collections
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrylab  # noqa: E402
import oracle  # noqa: E402

MISSING = ferrylab.missing_prerequisites() + ([] if shutil.which("strace") else ["strace"])
CLASSES = {
    "rename": ["rename", "renameat", "renameat2"],
    "unlink": ["unlink", "unlinkat"],
    "fsync": ["fsync", "fdatasync"],
}
CONVERGE_S = 25
LINE = re.compile(r"^(\d+)\s+(\w+)\(")


def traced_ferryd(device, strace_args, out):
    """Starts ferryd as a child of strace (strace's own output to `out`)."""
    with open(device.log_path, "a") as log:
        log.write("\n==== ferryd started under strace %s\n" % " ".join(strace_args))
    env = dict(os.environ)
    env.pop("FERRY_CRASHPOINT", None)
    pid_file = os.path.join(device.work, "ferryd.pid")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pid_file)
    with open(device.log_path, "a") as log:
        # A shell that writes its pid and becomes ferryd: ferryd's pid is known even if the
        # injected kill takes it before it answers.
        device.proc = subprocess.Popen(
            # -I1: strace takes SIGTERM (with -o and a command it blocks it by default).
            ["strace", "-f", "-qq", "-I1", "-o", out] + strace_args +
            ["/bin/sh", "-c", 'echo $$ > "$0"; exec "$@"', pid_file, ferrylab.program("ferryd"),
             "--config", os.path.join(device.work, "ferryd.toml")],
            stdout=subprocess.DEVNULL, stderr=log, env=env)
    if not ferrylab.wait_for(lambda: read_pid(pid_file), 10, step=0.01):
        raise RuntimeError("ferryd under strace did not start")
    pid = read_pid(pid_file)
    ferrylab.wait_for(lambda: device.ferry("status").returncode == 0 or not pid_alive(pid), 30)
    return pid


def read_pid(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") or text.isdigit() else None


def pid_alive(pid):
    """Whether any thread of process `pid` runs. A killed process's leader turns zombie before its
    other threads have ended (strace handles each thread's exit), and until the last one has, the
    process still holds its files, ferryd's state-directory lock with them; a zombie strace has not
    reaped yet, with no thread left, does not run."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    for task in tasks:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, task)) as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except (OSError, IndexError):
            continue
    return False


def stop_strace(device, pid):
    """Stops ferryd (`pid`) with SIGTERM if it still runs and returns its exit status (None when
    it was already gone), then strace. strace follows every descendant of ferryd, the app's
    container too, so it outlives a killed ferryd: on SIGTERM it detaches from them (they go on
    running, as after a crash of ferryd alone) and exits."""
    code = None
    if pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        if not ferrylab.wait_for(lambda: not pid_alive(pid), 30):
            os.kill(pid, signal.SIGKILL)
            code = "hung"
    if device.proc.poll() is None:
        device.proc.send_signal(signal.SIGTERM)
        try:
            device.proc.wait(30)
        except subprocess.TimeoutExpired:
            device.proc.kill()
            device.proc.wait()
    return code


@unittest.skipIf(MISSING, "needs %s" % ", ".join(MISSING))
class StraceKillE2e(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.started = time.monotonic()
        cls.work_cm = ferrylab.temp_work("ferry-strace.")
        cls.work = cls.work_cm.__enter__()
        cls.port = ferrylab.free_port()
        cls.app = ferrylab.unique_name("st", cls.work)
        cls.pub = ferrylab.Publisher(os.path.join(cls.work, "publish"), cls.app, cls.port,
                                     data_kb=256, seed=6)
        cls.pub.release("1.0.0")
        cls.pub.release("1.1.0")
        cls.bundles = {v: cls.pub.bundle(v) for v in ("1.0.0", "1.1.0")}
        cls.runs = collections.Counter()

    @classmethod
    def tearDownClass(cls):
        cls.work_cm.__exit__(None, None, None)
        print("\nstrace kills: runs %s; %.0fs" % (dict(cls.runs), time.monotonic() - cls.started),
              file=sys.stderr)

    def device_at_1_0_0(self, name):
        work = os.path.join(self.work, name)
        os.makedirs(work)
        device = ferrylab.Device(work, self.app, self.port, loop_disk=False)
        device.write_config(os.path.join(self.pub.repo, "metadata", "1.root.json"))
        device.start()
        r = device.ferry("install", self.bundles["1.0.0"])
        if r.returncode != 0:
            device.cleanup()
            raise RuntimeError("installing 1.0.0: %s%s" % (r.stdout, r.stderr))
        device.stop()
        return device

    def count_calls(self):
        """{class: largest count of one tracee}, and the number of runc execs, in one update."""
        device = self.device_at_1_0_0("count")
        out = os.path.join(self.work, "count.strace")
        calls = sorted({c for cs in CLASSES.values() for c in cs} | {"execve"})
        pid = None
        try:
            pid = traced_ferryd(device, ["-e", "trace=" + ",".join(calls)], out)
            start = os.path.getsize(out)  # start-up does not count: only the update
            r = device.ferry("install", self.bundles["1.1.0"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            stop_strace(device, pid)
        finally:
            if pid and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            device.cleanup()
        per_tracee = collections.defaultdict(collections.Counter)
        runc_execs = 0
        with open(out) as f:
            f.seek(start)
            for line in f:
                m = LINE.match(line)
                if not m:
                    continue
                pid, call = int(m.group(1)), m.group(2)
                if call == "execve":
                    runc_execs += ferrylab.RUNC in line
                    continue
                for cls_name, members in CLASSES.items():
                    if call in members:
                        per_tracee[cls_name][pid] += 1
        counts = {c: max(per_tracee[c].values(), default=0) for c in CLASSES}
        counts["execve"] = runc_execs
        return counts

    def test_kill_at_each_syscall(self):
        counts = self.count_calls()
        seed = int(os.environ.get("FERRY_STRACE_SEED", "14"))
        per_class = int(os.environ.get("FERRY_STRACE_PER_CLASS", "8"))
        rng = random.Random(seed)
        plan = []
        for cls_name, n in sorted(counts.items()):
            ns = list(range(1, n + 1))
            if per_class and len(ns) > per_class:
                # Always the first and the last; the rest a seeded sample.
                ns = sorted({1, n} | set(rng.sample(ns[1:-1], per_class - 2)))
            plan += [(cls_name, k) for k in ns]
        print("\ncalls in one update (largest count of one tracee): %s; seed %d, %d runs"
              % (counts, seed, len(plan)), file=sys.stderr, flush=True)
        for cls_name in CLASSES:
            self.assertGreater(counts[cls_name], 0, "the update made no %s call" % cls_name)
        self.assertGreater(counts["execve"], 0, "the update never ran runc")
        failures = []
        for cls_name, n in plan:
            t = time.monotonic()
            problems, what = self.one_kill(cls_name, n)
            self.runs[cls_name] += 1
            print("%-7s N=%-4d %-28s %s (%.1fs)" % (cls_name, n, what,
                                                   "FAIL" if problems else "ok",
                                                   time.monotonic() - t),
                  file=sys.stderr, flush=True)
            for p in problems:
                print("    " + p, file=sys.stderr, flush=True)
            if problems:
                failures.append("%s N=%d (seed %d): %s" % (cls_name, n, seed, "; ".join(problems)))
        self.assertEqual(failures, [], "\n  " + "\n  ".join(failures))

    def one_kill(self, cls_name, n):
        device = self.device_at_1_0_0("kill-%s-%d" % (cls_name, n))
        out = os.path.join(device.work, "kill.strace")
        problems = []
        what = "?"
        pid = None
        try:
            if cls_name == "execve":
                pid = traced_ferryd(device, ["-e", "trace=execve"], out)
                start = os.path.getsize(out)
                cli = device.ferry_popen("install", self.bundles["1.1.0"])
                seen = ferrylab.wait_for(lambda: self.runc_execs(out, start) >= n or
                                         cli.poll() is not None, 60, step=0.005)
                if self.runc_execs(out, start) >= n:
                    os.kill(pid, signal.SIGKILL)
                    what = "ferryd killed at runc exec"
                else:
                    what = "update ended first (%s)" % bool(seen)
                cli.communicate(timeout=60)
            else:
                calls = ",".join(CLASSES[cls_name])
                pid = traced_ferryd(device, ["-e", "trace=" + calls, "-e",
                                             "inject=%s:signal=KILL:when=%d" % (calls, n)], out)
                if pid_alive(pid):
                    r = device.ferry("install", self.bundles["1.1.0"])
                    what = "install exit %d" % r.returncode
                else:
                    what = "killed at start-up"
            ferrylab.wait_for(lambda: not pid_alive(pid), 1)
            what += ", ferryd %s" % ("alive" if pid_alive(pid) else "died")
            # ferryd lived (a runc it started was killed, or the update ended first): stopped
            # cleanly. Either way ferryd goes on without strace.
            if stop_strace(device, pid) == "hung":
                problems.append("ferryd did not stop on SIGTERM after the update")
            device.start()
            status = oracle.wait_converged(device, CONVERGE_S)
            if status is None:
                problems.append("ferryd does not answer after recovery")
            problems += oracle.check_device(device, self.pub.layer_tars, {"1.0.0", "1.1.0"})
            problems += self.interrupted_not_bad(device)
        except Exception as e:
            problems.append("harness: %s: %s" % (type(e).__name__, e))
        finally:
            if pid and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            if problems:
                keep = os.path.join(os.environ.get("FERRY_CAMPAIGN_KEEP",
                                                   "/tmp/ferry-campaign-failures"),
                                    "strace-%s-%d" % (cls_name, n))
                os.makedirs(keep, exist_ok=True)
                for f in (device.log_path, out):
                    if os.path.exists(f):
                        shutil.copy(f, keep)
                problems.append("logs kept in %s" % keep)
            device.cleanup()
            shutil.rmtree(device.work, ignore_errors=True)
        return problems, what

    @staticmethod
    def runc_execs(out, start):
        try:
            with open(out) as f:
                f.seek(start)
                return sum(1 for line in f if "execve(" in line and ferrylab.RUNC in line)
        except OSError:
            return 0

    def interrupted_not_bad(self, device):
        """1.1.0 may be marked bad only when its own container failed (a runc of it killed)."""
        r = device.ferry("--json", "history", self.app)
        try:
            revisions = json.loads(r.stdout).get("revisions", [])
        except ValueError:
            return ["ferry history: %s" % r.stderr.strip()]
        return ["1.1.0 is marked bad (%s) though only ferryd was killed" % rev.get("reason", "")
                for rev in revisions if rev.get("version") == "1.1.0" and rev.get("bad")
                and "interrupted" in rev.get("reason", "")]


if __name__ == "__main__":
    if MISSING:
        print("strace kill test skipped: needs %s" % ", ".join(MISSING))
        sys.exit(1 if os.environ.get("FERRY_REQUIRE_PREREQUISITES") else 77)
    unittest.main()
