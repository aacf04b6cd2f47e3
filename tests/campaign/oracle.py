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
    (`*.tmp*`, `*.partial`, `*.deleting`), nothing left in blobs/ or incoming/.

wait_converged() waits for ferryd to finish or roll back what it was doing. Standard library only.
"""

import hashlib
import json
import os
import sqlite3
import subprocess
import tarfile
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
        recovering = ((status or {}).get("agent") or {}).get("recovering")
        if app and app.get("update") is None and app.get("current") and not recovering:
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


def check_layer(layer_dir, diff_id, tar_path):
    """Problems with the unpacked layer `layer_dir` against the tar whose sha256 is `diff_id`."""
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
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=2) as resp:
            return resp.read().decode(errors="replace")
    except Exception as e:  # the reason is part of the symptom
        return "(no answer: %s)" % e


def check(state_dir, app, runc, runc_root, cgroup_parent, port, layer_tars, allowed_versions=None):
    """Every broken invariant of a converged device, as sentences."""
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
                problems.extend(check_layer(ldir, diff_id, layer_tars.get(diff_id)))

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
            elif parts[0] in ("blobs", "incoming") and n in files:
                problems.append("leftover %s" % p)
            elif parts[0] in ("blobs", "incoming") and _holds_files(os.path.join(d, n)):
                problems.append("leftover %s/ (with files)" % p)
                dirs.remove(n)  # once for the whole tree; empty directories are no leftover

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
    page = _page(port)
    if page != "version %s" % current_version:
        problems.append("page: %r, current is version %s" % (page[:80], current_version))

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
