#!/usr/bin/env python3
"""Self-test of the oracle (oracle.py): it must fail where a device is broken.

A device state made by hand (a real SQLite database with the columns the oracle reads, a layer
unpacked from its tar, `current`, the app's page served by a thread, a runc stand-in that lists
the app's container) passes; then each test breaks one thing and the oracle must name it. The
command-line mode is checked the same way: exit status 0, 1 with the problem on its own line, 2 on
a usage error, and the layers read from a repository's zstd blobs. No root, no ferryd. Python 3
standard library; the repository case needs the zstd tool.
"""

import hashlib
import http.server
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ferrylab  # noqa: E402
import oracle  # noqa: E402

ORACLE = os.path.join(HERE, "oracle.py")
APP = "web"
REVISION = "1.0.0-0123abcd"
CONTAINER = "ferry.%s.%s" % (APP, REVISION)


def layer_tar():
    return ferrylab.tar_bytes([("bin", "dir", None, 0o755),
                               ("bin/busybox", "file", b"#!fake busybox\n", 0o755),
                               ("bin/sh", "link", "busybox", 0o777),
                               ("www", "dir", None, 0o755),
                               ("www/index.html", "file", b"version 1.0.0", 0o644)])


class Page(http.server.BaseHTTPRequestHandler):
    body = b"version 1.0.0"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(Page.body)))
        self.end_headers()
        self.wfile.write(Page.body)

    def log_message(self, *args):
        pass


class OracleSelfTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.HTTPServer(("127.0.0.1", 0), Page)
        cls.port = cls.server.server_address[1]
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        Page.body = b"version 1.0.0"
        self.work = tempfile.mkdtemp(prefix="ferry-oracle-test-")
        self.addCleanup(shutil.rmtree, self.work, True)
        tar = layer_tar()
        self.diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
        self.tar_path = os.path.join(self.work, "layer.tar")
        with open(self.tar_path, "wb") as f:
            f.write(tar)
        self.state = os.path.join(self.work, "state")
        self.layer_dir = os.path.join(self.state, "layers", self.diff_id[7:])
        os.makedirs(self.layer_dir)
        with tarfile.open(self.tar_path) as t:
            t.extractall(self.layer_dir)
        app_dir = os.path.join(self.state, "apps", APP)
        os.makedirs(os.path.join(app_dir, "revisions", REVISION))
        with open(os.path.join(app_dir, "revisions", REVISION, "config.json"), "w") as f:
            f.write("{}")
        os.symlink("revisions/" + REVISION, os.path.join(app_dir, "current"))
        for d in ("blobs/sha256", "blobs/partial", "incoming"):
            os.makedirs(os.path.join(self.state, d))
        self.db = os.path.join(self.state, "state.db")
        with sqlite3.connect(self.db) as db:
            db.executescript("""
                CREATE TABLE apps (name TEXT PRIMARY KEY, current_revision TEXT,
                                   previous_revision TEXT);
                CREATE TABLE revisions (id TEXT PRIMARY KEY, app TEXT, version TEXT, state TEXT,
                                        bad INTEGER);
                CREATE TABLE layers (diff_id TEXT PRIMARY KEY, state TEXT);
                CREATE TABLE revision_layers (revision_id TEXT, position INTEGER, diff_id TEXT);
                CREATE TABLE downloads (digest TEXT PRIMARY KEY);""")
            db.execute("INSERT INTO apps VALUES (?, ?, NULL)", (APP, REVISION))
            db.execute("INSERT INTO revisions VALUES (?, ?, '1.0.0', 'committed', 0)",
                       (REVISION, APP))
            db.execute("INSERT INTO layers VALUES (?, 'complete')", (self.diff_id,))
            db.execute("INSERT INTO revision_layers VALUES (?, 0, ?)", (REVISION, self.diff_id))
        # runc stand-in: `runc --root DIR list --format json` lists what `containers` holds.
        self.containers = os.path.join(self.work, "containers.json")
        with open(self.containers, "w") as f:
            json.dump([{"id": CONTAINER, "status": "running"}], f)
        self.runc = os.path.join(self.work, "runc")
        with open(self.runc, "w") as f:
            f.write("#!/bin/sh\ncat '%s'\n" % self.containers)
        os.chmod(self.runc, 0o755)
        self.cgroup_parent = "/ferry-oracle-test-%d" % os.getpid()  # none: no stray cgroups

    def problems(self, layer_tars=None):
        tars = {self.diff_id: self.tar_path} if layer_tars is None else layer_tars
        return oracle.check(self.state, APP, self.runc, os.path.join(self.work, "runc-root"),
                            self.cgroup_parent, self.port, tars)

    def assertNamed(self, text):
        problems = self.problems()
        self.assertTrue(any(text in p for p in problems),
                        "no problem says %r: %s" % (text, problems))

    def test_a_sound_device_passes(self):
        self.assertEqual(self.problems(), [])

    def test_a_file_missing_from_a_layer(self):
        os.unlink(os.path.join(self.layer_dir, "www/index.html"))
        self.assertNamed("www/index.html: missing")

    def test_a_symlink_missing_from_a_layer(self):
        os.unlink(os.path.join(self.layer_dir, "bin/sh"))
        self.assertNamed("bin/sh: missing")

    def test_a_corrupt_file_in_a_layer(self):
        with open(os.path.join(self.layer_dir, "bin/busybox"), "ab") as f:
            f.write(b"x")
        self.assertNamed("bin/busybox: content differs")

    def test_a_wrong_mode_in_a_layer(self):
        os.chmod(os.path.join(self.layer_dir, "bin/busybox"), 0o700)
        self.assertNamed("bin/busybox: mode 700, the layer says 755")

    def test_a_file_the_layer_does_not_hold(self):
        open(os.path.join(self.layer_dir, "www/extra"), "w").close()
        self.assertNamed("www/extra is not in the layer")

    def test_a_layer_not_published(self):
        self.assertTrue(any("not a layer this test published" in p
                            for p in self.problems(layer_tars={})))

    def test_a_stray_temp_file(self):
        open(os.path.join(self.state, "x.tmp"), "w").close()
        self.assertNamed("leftover temp file x.tmp")

    def test_something_left_in_incoming(self):
        os.makedirs(os.path.join(self.state, "incoming/bundle"))
        open(os.path.join(self.state, "incoming/bundle/blob"), "w").close()
        self.assertNamed("leftover incoming/bundle/ (with files)")

    def test_a_blob_that_does_not_hash_to_its_name(self):
        with open(os.path.join(self.state, "blobs/sha256", "ab" * 32), "w") as f:
            f.write("not it")
        self.assertNamed("does not hash to its name")

    def test_current_on_disk_disagrees_with_the_database(self):
        link = os.path.join(self.state, "apps", APP, "current")
        os.unlink(link)
        os.symlink("revisions/other", link)
        self.assertNamed("current: the database says %s, the disk says revisions/other" % REVISION)

    def test_a_layer_left_staging(self):
        with sqlite3.connect(self.db) as db:
            db.execute("UPDATE layers SET state = 'staging'")
        self.assertNamed("left staging")

    def test_a_revision_directory_the_database_does_not_know(self):
        os.makedirs(os.path.join(self.state, "apps", APP, "revisions", "2.0.0-feed"))
        self.assertNamed("revision directory 2.0.0-feed: unknown in the database")

    def test_no_container_running(self):
        with open(self.containers, "w") as f:
            json.dump([{"id": CONTAINER, "status": "stopped"}], f)
        self.assertNamed("containers running: [], expected [%s]" % CONTAINER)

    def test_the_page_of_another_version(self):
        Page.body = b"version 0.9.0"
        self.assertNamed("page: 'version 0.9.0', current is version 1.0.0")

    # -- the command line

    def run_cli(self, *extra):
        return subprocess.run([sys.executable, ORACLE, "--state-dir", self.state, "--app", APP,
                               "--runc", self.runc, "--runc-root", os.path.join(self.work, "rr"),
                               "--cgroup-parent", self.cgroup_parent, "--port", str(self.port)]
                              + list(extra), capture_output=True, text=True)

    def test_the_command_line_says_each_problem_on_a_line_and_exits_1(self):
        r = self.run_cli("--layer-tar", "%s=%s" % (self.diff_id, self.tar_path))
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
        os.unlink(os.path.join(self.layer_dir, "www/index.html"))
        open(os.path.join(self.state, "x.tmp"), "w").close()
        r = self.run_cli("--layer-tar", "%s=%s" % (self.diff_id, self.tar_path))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout.splitlines(),
                         ["layer %s: www/index.html: missing" % self.diff_id[:19],
                          "leftover temp file x.tmp"])

    def test_without_tars_the_trees_are_not_compared_and_verbose_says_so(self):
        os.unlink(os.path.join(self.layer_dir, "www/index.html"))
        r = self.run_cli("-v")
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
        self.assertIn("layer %s: no layer tar given, its unpacked tree was not compared"
                      % self.diff_id[:19], r.stderr)

    def test_a_usage_error_exits_2(self):
        r = subprocess.run([sys.executable, ORACLE, "--app", APP, "--port", "1"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        r = self.run_cli("--layer-tar", "not-a-diff-id")
        self.assertEqual(r.returncode, 2)

    @unittest.skipUnless(shutil.which("zstd"), "needs the zstd tool")
    def test_the_layers_come_from_a_repository(self):
        repo = os.path.join(self.work, "repo")
        os.makedirs(os.path.join(repo, "targets", APP))
        os.makedirs(os.path.join(repo, "blobs", "sha256"))
        blob = os.path.join(self.work, "layer.tar.zst")
        subprocess.run(["zstd", "-q", "-19", self.tar_path, "-o", blob], check=True)
        with open(blob, "rb") as f:
            blob_hex = hashlib.sha256(f.read()).hexdigest()
        shutil.move(blob, os.path.join(repo, "blobs", "sha256", blob_hex))
        manifest = {"app": APP, "version": "1.0.0", "layers": [{
            "diff_id": self.diff_id, "blob": {
                "digest": "sha256:" + blob_hex,
                "media_type": "application/vnd.ferry.layer.v1.tar+zstd"}}]}
        with open(os.path.join(repo, "targets", APP, "%s.1.0.0.json" % ("0" * 64)), "w") as f:
            json.dump(manifest, f)
        r = self.run_cli("--repo", repo)
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
        with open(os.path.join(self.layer_dir, "www/index.html"), "w") as f:
            f.write("version 6.6.6")
        r = self.run_cli("--repo", repo)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout.splitlines(),
                         ["layer %s: www/index.html: content differs from the layer's (corrupt)"
                          % self.diff_id[:19]])


if __name__ == "__main__":
    unittest.main()
