#!/usr/bin/env python3
"""Real power cuts under ferryd (docs/testing.md §9).

The state directory is a loop-mounted ext4 (noauto_da_alloc). A cut is EXT4_IOC_SHUTDOWN with
NOLOGFLUSH: from that instant nothing more reaches the disk image, neither data nor journal. Then
everything a power failure takes goes too: ferryd and every container are killed, runc's state (a
tmpfs) is wiped, every mount is dropped; the loop device is detached and attached again, fsck -y
runs, the filesystem is mounted again and ferryd started, as at the next boot. The oracle
(oracle.py) then checks every invariant.

  PowerCutSelfTest   proves the cut is real: a file written without fsync is lost, an fsynced one
                     survives.
  PowerCutE2e        cuts one update (1.0.0 -> 2.0.0, three layers, the base one shared) at points
                     of staging, switch and trial: ferryd stops abruptly at a named crash point
                     (FERRY_CRASHPOINT) and the power goes at that very moment; also a cut at a
                     timed moment of the update. After the reboot ferryd must converge, the oracle
                     find nothing, an interrupted revision must not be marked bad (it was not its
                     fault) and the device must still install 2.0.0.

Run: sudo tests/campaign/powercut_test.py [-v] [PowerCutE2e.test_trial_started]   (build first:
cmake --build --preset dev). Needs root, runc, busybox-static, e2fsprogs (mkfs.ext4, fsck.ext4).
Everything lives in one temp dir; loop devices, mounts, containers and cgroups are removed also
when a test fails.
"""

import os
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrylab  # noqa: E402
import oracle  # noqa: E402

MISSING = ferrylab.missing_prerequisites()


@unittest.skipIf(MISSING, "needs %s" % ", ".join(MISSING))
class PowerCutSelfTest(unittest.TestCase):
    def test_cut_loses_an_unsynced_file_and_keeps_an_fsynced_one(self):
        with ferrylab.temp_work("ferry-powercut-self.") as work:
            disk = ferrylab.LoopDisk(os.path.join(work, "disk.img"), os.path.join(work, "mnt"),
                                     size_mb=64)
            try:
                mnt = disk.mountpoint
                with open(os.path.join(mnt, "synced"), "wb") as f:
                    f.write(b"s" * 65536)
                    f.flush()
                    os.fsync(f.fileno())
                dfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
                os.fsync(dfd)
                os.close(dfd)
                with open(os.path.join(mnt, "unsynced"), "wb") as f:
                    f.write(b"u" * 65536)
                # Before the cut the page cache still shows it.
                self.assertEqual(os.path.getsize(os.path.join(mnt, "unsynced")), 65536)
                disk.cut()
                with self.assertRaises(OSError):
                    open(os.path.join(mnt, "after-cut"), "w").close()
                disk.unmount_and_detach()
                disk.attach_and_mount(fsck=True)
                unsynced = os.path.join(mnt, "unsynced")
                self.assertTrue(not os.path.exists(unsynced) or os.path.getsize(unsynced) == 0,
                                "the unsynced file survived the cut: the cut is not a power cut")
                with open(os.path.join(mnt, "synced"), "rb") as f:
                    self.assertEqual(f.read(), b"s" * 65536)
            finally:
                disk.cleanup()
            self.assertEqual(ferrylab.mounts_below(work), [])


@unittest.skipIf(MISSING, "needs %s" % ", ".join(MISSING))
class PowerCutE2e(unittest.TestCase):
    """One update cut at one point per test."""

    def cut_update(self, crashpoint=None, delay=None):
        with ferrylab.temp_work("ferry-powercut.") as work:
            app = ferrylab.unique_name("pc", work)
            port = ferrylab.free_port()
            pub = ferrylab.Publisher(work, app, port, data_kb=2048, seed=14)
            v1 = pub.release("1.0.0")
            v2 = pub.release("2.0.0")
            device = ferrylab.Device(work, app, port, loop_disk=True)
            try:
                device.write_config(os.path.join(pub.repo, "metadata", "1.root.json"))
                device.start()
                r = device.ferry("install", v1)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                if crashpoint:
                    device.stop()
                    device.start(env={"FERRY_CRASHPOINT": crashpoint})
                install = device.ferry_popen("install", pub.bundle("2.0.0", "1.0.0"))
                if crashpoint:
                    exit_status = device.wait_exit(60)
                    self.assertEqual(exit_status, 137, "ferryd did not stop at %s" % crashpoint)
                else:
                    time.sleep(delay)
                device.power_cut()
                install.communicate(timeout=60)
                device.start()
                status = oracle.wait_converged(device)
                problems = oracle.check_device(device, pub.layer_tars, {"1.0.0", "2.0.0"})
                history = device.ferry("--json", "history", app).stdout
                if status and status["apps"][0]["current"]["version"] == "1.0.0":
                    if '"bad": true' in history.replace('"bad":true', '"bad": true'):
                        problems.append("the interrupted revision 2.0.0 is marked bad")
                self.assertEqual(problems, [], self.report(device, problems))
                # Not bricked: the update goes through now.
                if status["apps"][0]["current"]["version"] == "1.0.0":
                    r = device.ferry("install", v2)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.report(device, []))
                problems = oracle.check_device(device, pub.layer_tars, {"2.0.0"})
                self.assertEqual(problems, [], self.report(device, problems))
            finally:
                device.cleanup()

    def report(self, device, problems):
        with open(device.log_path, errors="replace") as f:
            log = f.read()[-6000:]
        fsck = "\n".join("fsck exit %d: %s" % (c, out[-500:]) for c, out in device.disk.fsck_log)
        return "\n  " + "\n  ".join(problems) + "\n" + fsck + "\nferryd log (tail):\n" + log

    def test_during_extraction(self):
        self.cut_update("layers.extract.after-entry:3")

    def test_after_a_layer_is_staged(self):
        self.cut_update("layers.stage.after-rename:2")

    def test_after_the_revision_is_staged(self):
        self.cut_update("engine.stage.after-rename")

    def test_right_after_the_switch(self):
        self.cut_update("engine.switch.after-link")

    def test_during_the_trial(self):
        self.cut_update("engine.trial.started")

    def test_before_the_commit(self):
        self.cut_update("engine.trial.before-commit")

    def test_at_a_timed_moment_of_the_update(self):
        self.cut_update(delay=0.4)


if __name__ == "__main__":
    if MISSING:
        sys.exit(ferrylab.skip_status("power-cut tests", MISSING))
    unittest.main()
