"""The one oracle of Ferry's crash, power-cut and campaign tests (docs/testing.md §2, §9).

After ferryd has converged, check() says everything that is wrong with a device, as a list of
sentences (empty: all invariants hold):
  - the database: PRAGMA integrity_check is "ok", foreign_key_check finds nothing;
  - the database agrees with the disk: `current` (and `previous` when recorded) are symlinks to
    complete revisions the database names, each revision's layers are complete in the database and
    on disk, and every layer re-hashes to its diff_id (the tar it was published from hashes to the
    diff_id, and the unpacked tree holds exactly that tar's entries, byte for byte);
  - no layer that no revision on disk needs, and no revision directory the database does not know;
  - exactly one container runs (the current revision's), its page answers with the current
    version, and its cgroup is the only one under the device's cgroup parent;
  - no stray mounts (only the overlay roots of the current and previous revisions), no temp files
    (`*.tmp*`, `*.partial`, `*.deleting`), nothing in incoming/; in blobs/ only what a later
    attempt resumes from: complete blobs that hash to their names (blobs/sha256/<hex>) and partial
    downloads with a resume record in the database (blobs/partial/<hex>), and no resume record
    without its partial file.

wait_converged() waits for ferryd to finish its start-up recovery and the update it was doing (or
its rollback). Standard library only (and the zstd tool to read a repository's layer blobs).

The C++ end-to-end tests (tests/e2e/lab/device_lab.hpp) and anyone at a device's console run it
as a program, once ferryd has converged:

  python3 tests/campaign/oracle.py --state-dir /var/lib/ferry --app web \
      [--repo REPO | --layer-tar sha256:HEX=FILE ...] [--runc-root DIR] [--cgroup-parent /ferry] \
      [--port N | --page-url URL] [--page TEXT] [--allowed-version V ...] [-v]

It prints each problem on a line of its own and exits 1 when there are any, 0 when there are none,
2 on a usage error. The layer tars come from the published repository (--repo: its layer blobs,
decompressed) or are named one by one; without either, the unpacked layers are not compared byte
for byte, and -v says so.
"""

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request


def wait_converged(device, timeout=60):
    """Waits until ferryd answers, has finished its start-up recovery, has no update in flight,
    and the app's page shows the version `current` names. Returns the last `ferry status` (None if ferryd never answered)."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = device.status()
        apps = (status or {}).get("apps") or []
        app = next((a for a in apps if a.get("name") == device.app), None)
        recovering = (status or {}).get("agent", {}).get("recovering", False)
        if app and not recovering and app.get("update") is None and app.get("current"):
            if device.page() == "version %s" % app["current"]["version"]:
                return status
        time.sleep(0.25)
    return status


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_layer(layer_dir, diff_id, tar_path, notes=None):
    """Problems with the unpacked layer `layer_dir` against the tar whose sha256 is `diff_id`.
    `tar_path` False: no tar is known at all (none was given), so the tree is not compared; a note
    in `notes` says so."""
    if tar_path is False:
        if notes is not None:
            notes.append("layer %s: no layer tar given, its unpacked tree was not compared"
                         % diff_id[:19])
        return []
    if tar_path is None:
        return ["layer %s: not a layer this test published" % diff_id[:19]]
    if "sha256:" + _sha256_file(tar_path) != diff_id:
        return ["layer %s: the published tar does not hash to its diff_id" % diff_id[:19]]
    problems = []
    expected = set()
    with tarfile.open(tar_path) as tar:
        for m in tar.getmembers():
            name = m.name.rstrip("/")
            expected.add(name)
            path = os.path.join(layer_dir, name)
            where = "layer %s: %s" % (diff_id[:19], name)
            if not os.path.lexists(path):
                problems.append(where + ": missing")
            elif m.issym():
                if not os.path.islink(path) or os.readlink(path) != m.linkname:
                    problems.append(where + ": not the symlink the layer holds")
            elif m.isdir():
                if os.path.islink(path) or not os.path.isdir(path):
                    problems.append(where + ": not a directory")
            elif m.isfile():
                if os.path.islink(path) or not os.path.isfile(path):
                    problems.append(where + ": not a regular file")
                elif _sha256_file(path) != hashlib.sha256(tar.extractfile(m).read()).hexdigest():
                    problems.append(where + ": content differs from the layer's (corrupt)")
                elif (os.stat(path).st_mode & 0o7777) != (m.mode & 0o7777):
                    problems.append(where + ": mode %o, the layer says %o"
                                    % (os.stat(path).st_mode & 0o7777, m.mode & 0o7777))
    for d, dirs, files in os.walk(layer_dir):
        for n in dirs + files:
            rel = os.path.relpath(os.path.join(d, n), layer_dir)
            if rel not in expected:
                problems.append("layer %s: %s is not in the layer" % (diff_id[:19], rel))
    return problems


def _check_kept_blob(path, kind, downloads):
    """A file in blobs/sha256 or blobs/partial: kept only as something to resume from."""
    name = os.path.basename(path)
    where = "blobs/%s/%s" % (kind, name)
    if len(name) != 64 or any(c not in "0123456789abcdef" for c in name) or os.path.islink(path):
        return ["leftover %s: not a blob" % where]
    if kind == "partial":
        if "sha256:" + name not in downloads:
            return ["leftover %s: a partial download without a resume record" % where]
        return []
    if _sha256_file(path) != name:
        return ["%s: kept for the next attempt, but does not hash to its name" % where]
    return []


def _holds_files(path):
    return any(files for _, _, files in os.walk(path))


def _mounts_below(path):
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mnt = line.split()[1].replace("\\040", " ")
            if mnt.startswith(path + "/"):
                out.append(mnt)
    return out


def _page(port):
    url = port if isinstance(port, str) else "http://127.0.0.1:%d/" % port
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode(errors="replace")
    except Exception as e:  # the reason is part of the symptom
        return "(no answer: %s)" % e


def check(state_dir, app, runc, runc_root, cgroup_parent, port, layer_tars, allowed_versions=None,
          page=None, notes=None):
    """Every broken invariant of a converged device, as sentences.
    `port`: the app's port on 127.0.0.1, or the URL of its page. `layer_tars`: diff_id -> path of
    the tar (anything with get()), or None when no tar is known (the trees are not compared, and
    `notes` says so). `page`: what the page must say (default "version <current version>").
    `notes`, a list, gets what was not checked."""
    problems = []
    state_dir = os.path.realpath(state_dir)
    db_path = os.path.join(state_dir, "state.db")
    try:
        db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)
        integrity = [r[0] for r in db.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            problems.append("database integrity_check: %s" % "; ".join(integrity[:5]))
        fk = db.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            problems.append("database foreign_key_check: %s" % fk[:5])
        row = db.execute("SELECT current_revision, previous_revision FROM apps WHERE name = ?",
                         (app,)).fetchone()
        revisions = {r[0]: {"version": r[1], "state": r[2], "bad": r[3]} for r in
                     db.execute("SELECT id, version, state, bad FROM revisions WHERE app = ?",
                                (app,))}
        rev_layers = {}
        for rid, diff_id in db.execute(
                "SELECT revision_id, diff_id FROM revision_layers ORDER BY revision_id, position"):
            rev_layers.setdefault(rid, []).append(diff_id)
        layers = dict(db.execute("SELECT diff_id, state FROM layers"))
        downloads = {r[0] for r in db.execute("SELECT digest FROM downloads")}
        db.close()
    except sqlite3.Error as e:
        return problems + ["database cannot be read: %s" % e]
    if row is None:
        return problems + ["database: no app %s" % app]
    current, previous = row

    app_dir = os.path.join(state_dir, "apps", app)
    revisions_dir = os.path.join(app_dir, "revisions")
    on_disk = set(os.listdir(revisions_dir)) if os.path.isdir(revisions_dir) else set()

    def check_revision(name, rid, must_be_committed):
        link = os.path.join(app_dir, name)
        if rid is None:
            if os.path.lexists(link):
                problems.append("%s: %s -> %s on disk, none in the database"
                                % (name, name, os.readlink(link)))
            return
        if not os.path.islink(link):
            problems.append("%s: the database says %s, no %s symlink on disk" % (name, rid, name))
        elif os.readlink(link) != "revisions/" + rid:
            problems.append("%s: the database says %s, the disk says %s"
                            % (name, rid, os.readlink(link)))
        rev = revisions.get(rid)
        if rev is None:
            problems.append("%s: revision %s is not in the database" % (name, rid))
            return
        if must_be_committed and rev["state"] != "committed":
            problems.append("%s: revision %s is %s, not committed" % (name, rid, rev["state"]))
        if rev["bad"]:
            problems.append("%s: revision %s is marked bad" % (name, rid))
        rdir = os.path.join(revisions_dir, rid)
        if not os.path.isfile(os.path.join(rdir, "config.json")):
            problems.append("%s: revision %s has no config.json on disk" % (name, rid))
        if not rev_layers.get(rid):
            problems.append("%s: revision %s has no layers in the database" % (name, rid))
        for diff_id in rev_layers.get(rid, []):
            if layers.get(diff_id) != "complete":
                problems.append("%s: layer %s is %s in the database"
                                % (name, diff_id[:19], layers.get(diff_id, "missing")))
            ldir = os.path.join(state_dir, "layers", diff_id.split(":", 1)[1])
            if not os.path.isdir(ldir):
                problems.append("%s: layer %s is not on disk" % (name, diff_id[:19]))
            else:
                tar = False if layer_tars is None else layer_tars.get(diff_id)
                problems.extend(check_layer(ldir, diff_id, tar, notes))

    check_revision("current", current, True)
    check_revision("previous", previous, False)
    current_version = revisions.get(current, {}).get("version")
    if allowed_versions is not None and current_version not in allowed_versions:
        problems.append("current is version %s, expected one of %s"
                        % (current_version, sorted(allowed_versions)))

    # Revisions and layers: nothing on disk the database does not know, nothing unneeded kept.
    for rid in sorted(on_disk):
        if rid not in revisions or revisions[rid]["state"] == "removed":
            problems.append("revision directory %s: %s in the database"
                            % (rid, "removed" if rid in revisions else "unknown"))
    # A layer stays while a revision the database keeps needs it (a rolled-back revision's layers
    # may be kept for a retry); one that only removed or unknown revisions name is garbage.
    needed = {d for rid, ids in rev_layers.items()
              if revisions.get(rid, {}).get("state") not in (None, "removed") for d in ids}
    layers_dir = os.path.join(state_dir, "layers")
    for name in sorted(os.listdir(layers_dir)) if os.path.isdir(layers_dir) else []:
        hexid = name[:-len(".whiteouts")] if name.endswith(".whiteouts") else name
        if "sha256:" + hexid not in layers:
            problems.append("layers/%s: not in the database" % name)
    for diff_id, st in sorted(layers.items()):
        if st != "complete":
            problems.append("layer %s: left %s" % (diff_id[:19], st))
        if diff_id not in needed:
            problems.append("layer %s: kept, but no revision needs it" % diff_id[:19])

    # Leftovers of interrupted work.
    for d, dirs, files in os.walk(state_dir):
        rel = os.path.relpath(d, state_dir)
        parts = rel.split(os.sep)
        if parts[0] == "layers" and len(parts) >= 2:
            dirs[:] = []  # the layers' own contents were compared with their tars
            continue
        if len(parts) >= 5 and parts[0] == "apps" and parts[4] in ("rootfs", "overlay"):
            dirs[:] = []  # the app's own files
            continue
        for n in dirs + files:
            p = os.path.normpath(os.path.join(rel, n))
            if ".tmp" in n or n.endswith(".partial") or n.endswith(".deleting"):
                problems.append("leftover temp file %s" % p)
            elif parts[0] == "blobs" and len(parts) == 1 and n in ("sha256", "partial") \
                    and n in dirs:
                continue  # the two blob directories, checked below
            elif parts[0] == "blobs" and len(parts) == 2 and n in files \
                    and parts[1] in ("sha256", "partial"):
                problems += _check_kept_blob(os.path.join(d, n), parts[1], downloads)
            elif parts[0] in ("blobs", "incoming") and n in files:
                problems.append("leftover %s" % p)
            elif parts[0] in ("blobs", "incoming") and _holds_files(os.path.join(d, n)):
                problems.append("leftover %s/ (with files)" % p)
                dirs.remove(n)  # once for the whole tree; empty directories are no leftover

    for digest in sorted(downloads):
        if not os.path.isfile(os.path.join(state_dir, "blobs", "partial", digest[len("sha256:"):])):
            problems.append("resume record for %s without its partial download" % digest[:19])

    # Mounts: the state filesystem itself, and the root filesystems of current and previous.
    allowed = {os.path.join(revisions_dir, r, "rootfs") for r in (current, previous) if r}
    for mnt in _mounts_below(state_dir):
        if mnt not in allowed:
            problems.append("stray mount %s (current %s, previous %s)"
                            % (os.path.relpath(mnt, state_dir), current, previous))

    # Containers: exactly the current revision's, running and answering.
    expected_id = "ferry.%s.%s" % (app, current)
    r = subprocess.run([runc, "--root", runc_root, "list", "--format", "json"],
                       capture_output=True, text=True)
    containers = json.loads(r.stdout or "null") or [] if r.returncode == 0 else []
    running = [c["id"] for c in containers if c.get("status") == "running"]
    if running != [expected_id]:
        problems.append("containers running: %s, expected [%s]" % (running, expected_id))
    for c in containers:
        if c.get("status") != "running":
            problems.append("container %s left %s" % (c["id"], c.get("status")))
    answer = _page(port)
    if page is None and answer != "version %s" % current_version:
        problems.append("page: %r, current is version %s" % (answer[:80], current_version))
    elif page is not None and answer != page:
        problems.append("page: %r, expected %r (current is version %s)"
                        % (answer[:80], page, current_version))

    # cgroups: only the running container's under the device's parent.
    expected_cgroup = "%s-%s" % (app, current)
    for controller in sorted(os.listdir("/sys/fs/cgroup")):
        base = os.path.join("/sys/fs/cgroup", controller, cgroup_parent.lstrip("/"))
        if os.path.isdir(base) and not os.path.islink(os.path.join("/sys/fs/cgroup", controller)):
            for n in sorted(os.listdir(base)):
                if os.path.isdir(os.path.join(base, n)) and n != expected_cgroup:
                    problems.append("stray cgroup %s:%s/%s" % (controller, cgroup_parent, n))
    return problems


def check_device(device, layer_tars, allowed_versions=None):
    """check() for a ferrylab.Device."""
    return check(device.state, device.app, device.runc_binary, device.runc_root,
                 device.cgroup_parent, device.port, layer_tars, allowed_versions)


class RepoLayers:
    """The layer tars of a repository ferry-publish wrote: diff_id -> the tar, decompressed from
    its layer blob (with the zstd tool) into `work` the first time it is asked for."""

    def __init__(self, repo, work):
        self.work = work
        self.blobs = {}
        for d, _, files in os.walk(os.path.join(repo, "targets")):
            for n in files:
                if not n.endswith(".json"):
                    continue
                with open(os.path.join(d, n), "rb") as f:
                    try:
                        manifest = json.loads(f.read())
                    except ValueError:
                        continue
                for layer in manifest.get("layers", []) if isinstance(manifest, dict) else []:
                    blob = layer.get("blob") or {}
                    if blob.get("media_type") == "application/vnd.ferry.layer.v1.tar+zstd":
                        self.blobs[layer["diff_id"]] = os.path.join(
                            repo, "blobs", "sha256", blob["digest"].split(":", 1)[1])
        self.tars = {}

    def get(self, diff_id):
        if diff_id not in self.blobs:
            return None
        if diff_id not in self.tars:
            tar = os.path.join(self.work, diff_id.split(":", 1)[1] + ".tar")
            with open(tar, "wb") as out:
                r = subprocess.run(["zstd", "-d", "-q", "-c", self.blobs[diff_id]], stdout=out,
                                   stderr=subprocess.PIPE, text=False)
            # An unreadable blob is a tar that cannot hash to its diff_id: check_layer says so.
            self.tars[diff_id] = tar if r.returncode == 0 else self.blobs[diff_id]
        return self.tars[diff_id]


class _Tars:
    """Tars named one by one first, then the repository's."""

    def __init__(self, named, repo_layers):
        self.named = named
        self.repo_layers = repo_layers

    def get(self, diff_id):
        if diff_id in self.named:
            return self.named[diff_id]
        return self.repo_layers.get(diff_id) if self.repo_layers else None


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Check a converged Ferry device: prints each broken invariant on a line, "
                    "exits 1 when there are any, 0 when none, 2 on a usage error.")
    parser.add_argument("--state-dir", required=True, help="ferryd's state_dir")
    parser.add_argument("--app", required=True, help="the app to check")
    parser.add_argument("--repo", help="the repository the releases were published to: its "
                        "layer blobs are the tars the unpacked layers are compared with")
    parser.add_argument("--layer-tar", action="append", default=[], metavar="DIFFID=PATH",
                        help="the uncompressed tar of a layer (repeatable)")
    parser.add_argument("--runc", default=shutil.which("runc") or "/usr/sbin/runc")
    parser.add_argument("--runc-root", default="/run/ferry/runc",
                        help="[runtime] root of ferryd's configuration")
    parser.add_argument("--cgroup-parent", default="/ferry",
                        help="[runtime] cgroup_parent of ferryd's configuration")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="the app serves its page on 127.0.0.1:PORT")
    where.add_argument("--page-url", help="the URL of the app's page")
    parser.add_argument("--page", help='what the page must say (default: "version <current>")')
    parser.add_argument("--allowed-version", action="append", metavar="V",
                        help="a version current may be (repeatable; default: any)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also say, on stderr, what could not be checked")
    args = parser.parse_args(argv)

    named = {}
    for item in args.layer_tar:
        diff_id, sep, path = item.partition("=")
        if not sep or not diff_id.startswith("sha256:") or not path:
            parser.error("--layer-tar %s: expected sha256:HEX=PATH" % item)
        if not os.path.isfile(path):
            parser.error("--layer-tar %s: no such file" % item)
        named[diff_id] = path
    if args.repo and not os.path.isdir(os.path.join(args.repo, "targets")):
        parser.error("--repo %s: not a Ferry repository (no targets/)" % args.repo)
    if args.repo and not shutil.which("zstd"):
        parser.error("--repo needs the zstd tool to decompress the layer blobs")
    if not os.path.isdir(args.state_dir):
        parser.error("--state-dir %s: no such directory" % args.state_dir)

    work = tempfile.mkdtemp(prefix="ferry-oracle-")
    try:
        layer_tars = None
        if named or args.repo:
            layer_tars = _Tars(named, RepoLayers(args.repo, work) if args.repo else None)
        notes = []
        allowed = set(args.allowed_version) if args.allowed_version else None
        problems = check(args.state_dir, args.app, args.runc, args.runc_root, args.cgroup_parent,
                         args.page_url or args.port, layer_tars, allowed, args.page, notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for p in problems:
        print(p)
    if args.verbose:
        for n in notes:
            print("note: " + n, file=sys.stderr)
        print("%d problem(s)" % len(problems), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
