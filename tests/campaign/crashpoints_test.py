#!/usr/bin/env python3
"""Every named crash point of ferryd, killed at, recovered from and checked (docs/testing.md §9).

The list comes from `ferryd --list-crashpoints`, never from this file. A fixed tour of one device
passes them all:
  setup   1.0.0 installed from a full bundle (ferryd without a crash point), ferryd stopped
  boot    ferryd started again: recovery adopts the running container
  full    1.1.0 from a full bundle (stage, switch, trial, commit, collection of revisions)
  delta   1.2.0 from a delta bundle against 1.1.0 (collection of layers too)
  update  `ferry update` 1.3.0 from ferry-server (metadata, deltas, blobs over HTTP)
  failing 1.4.0, whose entrypoint exits: rolled back to 1.3.0, marked bad
  revert  `ferry revert`: back to 1.2.0
  recover 1.5.0 (no page: its trial lasts until its deadline), ferryd stopped (SIGTERM) during
          its trial and started again: recovery rolls the interrupted trial back
  fallback  the running revision's manifest damaged, its container gone (as after a reboot):
          three boots fail to start it, the third falls back to the previous revision
Each ferryd of the tour runs with FERRY_CRASHPOINT=<point>:<n>. When ferryd dies with status 137,
the variant's fault follows and the oracle (oracle.py) checks the device once it has converged:
  kill      ferryd started again
  kill2     started again, SIGKILLed again during recovery (after a short delay), started again
  powercut  the state filesystem cut as by a power failure (ferrylab.Device.power_cut), started
Besides the oracle: the running version is one the step allows, and a good version the crash
interrupted is not marked bad.

  CrashPointsE2e.test_every_registered_point_is_reached  one tour with FERRY_CRASHPOINT_TRACE:
      every registered point is passed (else it fails naming the points never reached)
  CrashPointsE2e.test_kill       each point at :1 (the commit points also at a later n): ferryd
      must die there (else it fails naming the points never exercised), then recover
  CrashPointsE2e.test_kill2, test_powercut   the same with the other two faults (longer; by
      hand or `ctest -L campaign`)
FERRY_CRASHPOINTS_ONLY=a,b limits the kill tests to those points (by hand, to replay one).

Run: sudo tests/campaign/crashpoints_test.py -v CrashPointsE2e.test_kill   (build first). Needs
root, runc, busybox-static, e2fsprogs. Exit status 77 (skipped) when they are missing, unless
FERRY_REQUIRE_PREREQUISITES is set.
"""

import collections
import json
import os
import shutil
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrylab  # noqa: E402
import oracle  # noqa: E402

MISSING = ferrylab.missing_prerequisites()
CONVERGE_S = 25
# store.commit.* are passed dozens of times in one ferryd: besides the first, the one at this
# fraction of the hits the traced tour counted in its first crash-armed ferryd.
LATER_FRACTION = 0.6
CRASH_STATUS = 137  # a crash point's _exit status


class Died(Exception):
    """ferryd exited with the crash point's status during a step."""


def registered_points():
    r = ferrylab.run([ferrylab.program("ferryd"), "--list-crashpoints"])
    return [line.strip() for line in r.stdout.splitlines() if line.strip()]


class Tour:
    """One device walked through the tour, ferryd armed with `env`. run() returns the step at
    which ferryd died with status 137, or None when the tour finished."""

    def __init__(self, lab, work, env, loop_disk):
        self.lab = lab
        self.pub = lab.pub
        self.env = env
        self.device = ferrylab.Device(work, lab.app, lab.port, loop_disk=loop_disk)
        self.device.write_config(os.path.join(self.pub.repo, "metadata", "1.root.json"),
                                 lab.server.url)
        self.allowed = None  # versions the current step may leave running
        self.target_good = None  # a good version the step installs

    def armed_start(self):
        trace = self.env.get("FERRY_CRASHPOINT_TRACE")
        if trace:
            with open(trace, "a") as f:
                f.write("#start\n")
        self.device.start(env=self.env)
        self.check_alive()

    def check_alive(self):
        code = self.device.proc.poll()
        if code == CRASH_STATUS:
            raise Died()
        if code is not None:
            raise RuntimeError("ferryd exited with status %s" % code)

    def ferry(self, *args):
        r = self.device.ferry(*args)
        self.device.proc.poll()
        if self.device.proc.returncode is None:
            return r
        # The CLI may return before ferryd has quite gone.
        self.device.wait_exit(10)
        self.check_alive()
        return r

    def current(self):
        s = self.device.status()
        return s["apps"][0]["current"]["version"] if s and s["apps"] else None

    def setup(self):
        self.device.start()
        r = self.device.ferry("install", self.pub.bundle("1.0.0"))
        if r.returncode != 0:
            raise RuntimeError("installing 1.0.0: %s%s" % (r.stdout, r.stderr))
        if self.device.stop() != 0:
            raise RuntimeError("ferryd did not stop cleanly")

    def steps(self):
        return [("boot", self.boot), ("full", self.full), ("delta", self.delta),
                ("update", self.update), ("failing", self.failing), ("revert", self.revert),
                ("recover", self.recover), ("fallback", self.fallback)]

    def run(self):
        self.setup()
        for name, step in self.steps():
            try:
                step()
                # Recovery and collection go on after the command returns: let them finish, so
                # that a crash in them is this step's.
                ferrylab.wait_for(lambda: not self.device.alive() or answers_current(self.device),
                                  CONVERGE_S)
                self.check_alive()
            except Died:
                return name
            if not self.device.alive():
                raise RuntimeError("ferryd is gone after step %s (status %s)"
                                   % (name, self.device.proc.returncode))
        return None

    def install(self, version, bundle, good=True):
        before = self.current()
        self.allowed = {before, version} if good else {before}
        self.target_good = version if good else None
        r = self.ferry("install", bundle)
        return r

    def boot(self):
        self.allowed = {"1.0.0"}
        self.armed_start()

    def full(self):
        self.install("1.1.0", self.pub.bundle("1.1.0"))

    def delta(self):
        self.install("1.2.0", self.pub.bundle("1.2.0", "1.1.0"))

    def update(self):
        self.allowed = {self.current(), "1.3.0"}
        self.target_good = "1.3.0"
        self.ferry("update", self.lab.app, "1.3.0")

    def failing(self):
        self.install("1.4.0", self.pub.bundle("1.4.0"), good=False)

    def revert(self):
        before = self.current()
        self.allowed = {before, "1.2.0"}
        self.target_good = "1.2.0"  # the way back: a revert cut short leaves it good
        self.ferry("revert", self.lab.app)

    def recover(self):
        before = self.current()
        self.allowed = {before}
        self.target_good = None
        cli = self.device.ferry_popen("install", self.pub.bundle("1.5.0"))
        in_trial = ferrylab.wait_for(
            lambda: not self.device.alive() or any(
                (a.get("update") or {}).get("step") == "trial"
                for a in (self.device.status() or {}).get("apps", [])), 20, step=0.05)
        if self.device.alive():
            if not in_trial:
                raise RuntimeError("1.5.0 never reached its trial")
            self.device.signal(signal.SIGTERM)
        code = self.device.wait_exit(20)
        cli.communicate(timeout=60)
        if code == CRASH_STATUS:
            raise Died()
        if code != 0:
            raise RuntimeError("SIGTERM during the trial: ferryd exited with %s" % code)
        self.armed_start()

    def fallback(self):
        # As after a reboot: no container, and the running revision can no longer start.
        before = self.current()
        code = self.device.stop()
        if code == CRASH_STATUS:
            raise Died()
        if code != 0:
            raise RuntimeError("ferryd did not stop cleanly (status %s)" % code)
        self.allowed = None
        self.target_good = None
        self.device.drop_containers()
        app_dir = os.path.join(self.device.state, "apps", self.lab.app)
        current = os.path.join(app_dir, os.readlink(os.path.join(app_dir, "current")))
        ferrylab.unmount_all_below(os.path.join(current, "rootfs"))
        write_durably(os.path.join(current, "manifest.json"), b"damaged")
        for boot in range(1, 4):
            self.armed_start()
            if boot < 3:
                if not ferrylab.wait_for(lambda: self.failed_starts() >= boot or
                                         not self.device.alive(), 20):
                    raise RuntimeError("boot %d: no failed start of %s logged" % (boot, before))
                self.check_alive()
                self.device.stop()
        # The third boot falls back.
        ferrylab.wait_for(lambda: self.device.page() not in (None, "version %s" % before)
                          or not self.device.alive(), 20)
        self.check_alive()

    def failed_starts(self):
        with open(self.device.log_path, errors="replace") as f:
            return f.read().count("%s: could not start" % self.lab.app)


def write_durably(path, data):
    tmp = path + ".tmp-test"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)


class Lab:
    """The releases, bundles and server every tour shares."""

    def __init__(self, work):
        self.work = work
        self.port = ferrylab.free_port()
        self.app = ferrylab.unique_name("cp", work)
        self.pub = ferrylab.Publisher(os.path.join(work, "publish"), self.app, self.port,
                                      data_kb=256, seed=21)
        for version, kind in (("1.0.0", "good"), ("1.1.0", "good"), ("1.2.0", "good"),
                              ("1.3.0", "good"), ("1.4.0", "exits"), ("1.5.0", "404")):
            self.pub.release(version, kind)
        # Made after the last release, so each carries the newest signed metadata.
        for version in ("1.0.0", "1.1.0", "1.4.0", "1.5.0"):
            self.pub.bundle(version)
        self.pub.bundle("1.2.0", "1.1.0")
        self.server = ferrylab.RepoServer(self.pub.repo, os.path.join(work, "server.log"))
        self.server.start()
        self.runs = collections.Counter()


@unittest.skipIf(MISSING, "needs %s" % ", ".join(MISSING))
class CrashPointsE2e(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.started = time.monotonic()
        cls.work_cm = ferrylab.temp_work("ferry-crashpoints.")
        cls.work = cls.work_cm.__enter__()
        cls.lab = Lab(cls.work)
        cls.points = registered_points()
        cls.trace = None

    @classmethod
    def tearDownClass(cls):
        cls.lab.server.kill()
        cls.work_cm.__exit__(None, None, None)
        print("\ncrash points: %d registered; runs: %s; %.0fs"
              % (len(cls.points), dict(cls.lab.runs), time.monotonic() - cls.started),
              file=sys.stderr)

    # -- the trace of one tour without a crash

    @classmethod
    def traced(cls):
        """The points the whole tour passes, and the trace: one line a point passed, "#start" at
        each start of an armed ferryd, "#step NAME" before each step."""
        if cls.trace is None:
            path = os.path.join(cls.work, "trace")
            tour = Tour(cls.lab, os.path.join(cls.work, "traced"),
                        {"FERRY_CRASHPOINT_TRACE": path}, loop_disk=False)
            try:
                tour.setup()
                with open(path, "w"):
                    pass  # setup's ferryd is not armed: its points do not count
                for name, step in tour.steps():
                    with open(path, "a") as f:
                        f.write("#step %s\n" % name)
                    step()
                    ferrylab.wait_for(lambda: answers_current(tour.device), CONVERGE_S)
                # The fallback's last steps come after the page answers: wait for them.
                oracle.wait_converged(tour.device, CONVERGE_S)
                ferrylab.wait_for(lambda: set(cls.points) <= trace_points(path), 10)
                problems = oracle.check_device(tour.device, cls.lab.pub.layer_tars)
                if problems:
                    raise AssertionError("the tour without a crash: %s" % problems)
            finally:
                tour.device.cleanup()
            with open(path) as f:
                lines = [line.strip() for line in f]
            cls.trace = ({line for line in lines if not line.startswith("#")}, lines)
        return cls.trace

    def test_every_registered_point_is_reached(self):
        reached, _ = self.traced()
        never = [p for p in self.points if p not in reached]
        unknown = sorted(reached - set(self.points))
        self.assertEqual(unknown, [], "points passed but not listed by --list-crashpoints")
        self.assertEqual(never, [], "registered crash points the tour never reaches: %s\n"
                         "the trace's end: %s" % (", ".join(never), " ".join(self.traced()[1][-40:])))

    # -- kills

    def specs(self):
        only = [p for p in os.environ.get("FERRY_CRASHPOINTS_ONLY", "").split(",") if p]
        points = only or self.points
        _, lines = self.traced()
        specs = []
        for p in points:
            specs.append((p, 1))
            if p.startswith("store.commit."):
                # The hits of the first armed ferryd (from boot until its SIGTERM in "recover").
                n = max(2, int(first_process_hits(lines, p) * LATER_FRACTION))
                specs.append((p, n))
            elif p.startswith(("engine.switch.", "engine.trial.")):
                # The switch and trial of `ferry revert` too, not only those of an install.
                n = revert_hit(lines, p)
                if n and n > 1:
                    specs.append((p, n))
        return specs

    def kill_every_point(self, variant):
        failures = []
        never = []
        for point, n in self.specs():
            spec = "%s:%d" % (point, n)
            t = time.monotonic()
            problems, died_at = self.one_run(spec, variant)
            self.lab.runs[variant] += 1
            print("%-8s %-45s %-9s %s (%.1fs)" % (variant, spec, died_at or "-",
                                                 "FAIL" if problems else "ok",
                                                 time.monotonic() - t), file=sys.stderr,
                  flush=True)
            for problem in problems:
                print("    " + problem, file=sys.stderr, flush=True)
            if died_at is None and not problems:
                never.append(spec)
            if problems:
                failures.append("%s (%s, died at step %s):\n      %s"
                                % (spec, variant, died_at, "\n      ".join(problems)))
        self.assertEqual(never, [], "registered crash points never exercised by the tour "
                         "(ferryd did not die there): %s" % ", ".join(never))
        self.assertEqual(failures, [], "\n  " + "\n  ".join(failures))

    def one_run(self, spec, variant):
        work = os.path.join(self.work, "run")
        os.makedirs(work)
        tour = Tour(self.lab, work, {"FERRY_CRASHPOINT": spec}, loop_disk=variant == "powercut")
        problems = []
        died_at = None
        try:
            died_at = tour.run()
            if died_at is None:
                return [], None
            device = tour.device
            if variant == "powercut":
                device.power_cut()
            device.start()
            if variant == "kill2":
                time.sleep(0.3)
                device.kill()
                device.start()
            if died_at == "fallback":
                # Boots go on failing until the third falls back: a crash there is one more.
                for _ in range(4):
                    if ferrylab.wait_for(lambda: answers_current(device), 8):
                        break
                    device.stop()
                    device.start()
            status = oracle.wait_converged(device, CONVERGE_S)
            if status is None:
                problems.append("ferryd does not answer after recovery")
            found = oracle.check_device(device, self.lab.pub.layer_tars, tour.allowed)
            if died_at == "update" and not found:
                # ferryd keeps what a cut-short `ferry update` downloaded (complete blobs,
                # resumable partial ones; the oracle checks both): the next attempt must finish
                # from it and leave nothing behind.
                self.lab.runs["update again after recovery"] += 1
                r = device.ferry("update", self.lab.app, "1.3.0")
                if r.returncode != 0:
                    problems.append("`ferry update` again after recovery: %s%s"
                                    % (r.stdout, r.stderr))
                oracle.wait_converged(device, CONVERGE_S)
                found = oracle.check_device(device, self.lab.pub.layer_tars, {"1.3.0"})
            problems += found
            if tour.target_good:
                problems += not_bad(device, self.lab.app, tour.target_good)
        except Exception as e:  # a crash of the harness is a failure of this point too
            problems.append("harness: %s: %s" % (type(e).__name__, e))
        finally:
            if problems:
                keep = os.path.join(os.environ.get("FERRY_CAMPAIGN_KEEP",
                                                   "/tmp/ferry-campaign-failures"),
                                    "crashpoint-%s-%s" % (spec.replace(":", "-"), variant))
                os.makedirs(keep, exist_ok=True)
                if os.path.exists(tour.device.log_path):
                    shutil.copy(tour.device.log_path, keep)
                problems.append("ferryd log kept in %s" % keep)
            tour.device.cleanup()
            shutil.rmtree(work, ignore_errors=True)
        return problems, died_at

    def test_kill(self):
        self.kill_every_point("kill")

    def test_kill2(self):
        self.kill_every_point("kill2")

    def test_powercut(self):
        self.kill_every_point("powercut")


def revert_hit(lines, point):
    """The n of `point`'s first pass in the "revert" step, counted in the first armed ferryd
    (which runs from "boot" to the SIGTERM of "recover"), or None if "revert" does not pass it."""
    start = lines.index("#start")
    revert = lines.index("#step revert")
    end = lines.index("#step recover")
    if point not in lines[revert:end]:
        return None
    return sum(1 for line in lines[start:revert] if line == point) + 1


def trace_points(path):
    with open(path) as f:
        return {line.strip() for line in f if not line.startswith("#")}


def first_process_hits(lines, point):
    """How often the first armed ferryd (from "boot" to the SIGTERM of "recover") passed `point`."""
    starts = [i for i, line in enumerate(lines) if line == "#start"]
    end = starts[1] if len(starts) > 1 else len(lines)
    return sum(1 for line in lines[starts[0] + 1:end] if line == point)


def answers_current(device):
    """ferryd has finished its start-up recovery, has no update in flight, and the app answers
    with the version `current` names."""
    status = device.status()
    apps = (status or {}).get("apps") or []
    if not apps or ((status or {}).get("agent") or {}).get("recovering"):
        return False
    return apps[0].get("current") is not None and apps[0].get("update") is None and (
        device.page() == "version %s" % apps[0]["current"]["version"])


def not_bad(device, app, version):
    r = device.ferry("--json", "history", app)
    try:
        revisions = json.loads(r.stdout).get("revisions", [])
    except ValueError:
        return ["ferry history: %s" % r.stderr.strip()]
    return ["good version %s interrupted by the crash is marked bad (%s)"
            % (version, rev.get("reason", "")) for rev in revisions
            if rev.get("version") == version and rev.get("bad")]


if __name__ == "__main__":
    if MISSING:
        print("crash-point tests skipped: needs %s" % ", ".join(MISSING))
        sys.exit(1 if os.environ.get("FERRY_REQUIRE_PREREQUISITES") else 77)
    unittest.main()
