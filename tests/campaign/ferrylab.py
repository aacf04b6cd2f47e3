"""A Ferry device in a temp dir, driven through the real programs, for the power-cut tests and the
random campaign (tests/campaign/run).

What it holds:
  - Publisher: multi-layer releases of a busybox httpd app, made as `docker save` tarballs and
    published with ferry-publish (signed repository, full and delta bundles).
  - LoopDisk: the state directory on a loop-mounted ext4 (noauto_da_alloc) that can be cut like a
    power failure with EXT4_IOC_SHUTDOWN + NOLOGFLUSH: what was not flushed is lost.
  - Device: ferryd (real runc, runc state on its own tmpfs, its own cgroup parent), the ferry CLI,
    faults (SIGKILL, SIGTERM, power cut, kill of the app), and a cleanup that removes every
    container, mount, cgroup and loop device it made, also when a test fails.

Python 3 standard library only. Needs root, runc, busybox-static, mkfs.ext4 and losetup.
"""

import contextlib
import fcntl
import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("FERRY_BUILD_DIR", os.path.join(REPO_ROOT, "build", "dev"))
RUNC = shutil.which("runc") or "/usr/sbin/runc"

EXT4_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_NOLOGFLUSH = 2  # stop at once: neither data nor the journal is flushed


def program(name):
    paths = {
        "ferryd": "agent/ferryd/ferryd",
        "ferry": "agent/ferry/ferry",
        "ferry-publish": "server-mock/ferry-publish/ferry-publish",
        "ferry-server": "server-mock/ferry-server/ferry-server",
    }
    return os.path.join(BUILD_DIR, paths[name])


def run(args, check=True, timeout=120, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def unique_name(prefix, work):
    """An app name of lowercase letters and digits (it is also the container's host name)."""
    return prefix + "".join(c for c in os.path.basename(work).lower() if c.isalnum())[-8:]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_prerequisites():
    """What this machine lacks for these tests, or an empty list."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    for tool in ("runc", "mkfs.ext4", "losetup", "fsck.ext4"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            missing.append(tool)
    if not os.path.exists("/bin/busybox"):
        missing.append("busybox-static")
    for name in ("ferryd", "ferry", "ferry-publish"):
        if not os.path.exists(program(name)):
            missing.append(program(name) + " (build it first)")
    return missing


def skip_status(what, missing):
    """The exit status of a test whose prerequisites are `missing`: 77 (ctest: skipped), or 1
    where the machine was prepared by scripts/install-deps and scripts/test says so
    (FERRY_REQUIRE_PREREQUISITES=1): there a test that cannot run is a failure, not a skip."""
    if os.environ.get("FERRY_REQUIRE_PREREQUISITES") == "1":
        print("%s cannot run: missing prerequisite: %s" % (what, ", ".join(missing)))
        return 1
    print("%s skipped: needs %s" % (what, ", ".join(missing)))
    return 77


def mounts_below(path):
    """Mount points at or below `path`, deepest first."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mnt = line.split()[1].replace("\\040", " ")
            if mnt == path or mnt.startswith(path + "/"):
                found.append(mnt)
    return sorted(found, key=lambda m: (-m.count("/"), m))


def unmount_all_below(path, keep=()):
    for mnt in mounts_below(path):
        if mnt in keep:
            continue
        if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mnt], capture_output=True)


def wait_for(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(step)


# ---------------------------------------------------------------------------------------------
# Releases


def tar_bytes(entries):
    """A deterministic tar from [(name, kind, data_or_target, mode)], kinds "dir", "file", "link"."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.mode = mode
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Publisher:
    """Signed releases of one app, each a stack of three layers:
      base  busybox and /bin/sh, shared by every version (never collected while any is kept);
      data  `data_kb` of seeded bytes, changed a little in every version (deltas patch it, and the
            old one is collected once no kept revision needs it);
      www   the page ("version V") and the app's config.
    Kinds of version: "good"; "404" (no page: the http health check fails); "exits" (the
    entrypoint exits at once)."""

    def __init__(self, work, app, port, data_kb=1536, seed=0):
        self.work = work
        self.app = app
        self.port = port
        self.data_kb = data_kb
        self.seed = seed
        self.repo = os.path.join(work, "repo")
        self.keys = os.path.join(work, "keys")
        self.layer_tars = {}  # diff_id -> path of the uncompressed tar (for the oracle)
        self._bundled_with = {}  # bundle path -> hash of the timestamp.json it carries
        self.versions = []  # in publishing order
        self.kinds = {}
        run([program("ferry-publish"), "init", "--repo", self.repo, "--keys", self.keys])
        with open("/bin/busybox", "rb") as f:
            busybox = f.read()
        self.base = tar_bytes([("bin", "dir", None, 0o755), ("bin/busybox", "file", busybox, 0o755),
                                ("bin/sh", "link", "busybox", 0o777)])

    def _data(self, index):
        rng = random.Random("%s-data" % self.seed)
        data = bytearray(rng.randbytes(self.data_kb * 1024))
        change = random.Random("%s-data-%d" % (self.seed, index))
        for _ in range(index * 4):  # a few KB differ from one version to the next
            at = change.randrange(0, len(data) - 1024)
            data[at:at + 1024] = change.randbytes(1024)
        return bytes(data)

    def release(self, version, kind="good"):
        index = len(self.versions)
        www = [("www", "dir", None, 0o755)]
        if kind != "404":
            www.append(("www/index.html", "file", ("version %s" % version).encode(), 0o644))
        layers = [
            self.base,
            tar_bytes([("data", "dir", None, 0o755),
                        ("data/blob.bin", "file", self._data(index), 0o644)]),
            tar_bytes(www),
        ]
        image = os.path.join(self.work, "image-%s.tar" % version)
        diff_ids = []
        with tarfile.open(image, "w") as out:
            names = []
            for i, data in enumerate(layers):
                digest = "sha256:" + hashlib.sha256(data).hexdigest()
                diff_ids.append(digest)
                keep = os.path.join(self.work, "layers", digest[7:] + ".tar")
                os.makedirs(os.path.dirname(keep), exist_ok=True)
                with open(keep, "wb") as f:
                    f.write(data)
                self.layer_tars[digest] = keep
                name = "%d/layer.tar" % i
                names.append(name)
                info = tarfile.TarInfo(name)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
            config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                                 "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
            for name, data in (("config.json", config),
                               ("manifest.json", json.dumps([{"Config": "config.json",
                                                              "RepoTags": [],
                                                              "Layers": names}]).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
        listen = "127.0.0.1:%d" % self.port
        entry = ["/bin/busybox", "sh", "-c",
                 "trap 'exit 0' TERM; /bin/busybox httpd -f -p %s -h /www & wait" % listen]
        if kind == "exits":
            entry = ["/bin/busybox", "false"]
        app_config = os.path.join(self.work, "app-%s.json" % version)
        with open(app_config, "w") as f:
            json.dump({"entrypoint": entry,
                       "health": {"kind": "http", "url": "http://%s/" % listen, "interval_s": 0.25,
                                  "successes": 2, "deadline_s": 4}}, f)
        run([program("ferry-publish"), "release", "--repo", self.repo, "--keys", self.keys,
             "--app", self.app, "--version", version, "--image", image, "--app-config", app_config,
             "--quiet"], timeout=300)
        os.unlink(image)
        self.versions.append(version)
        self.kinds[version] = kind
        return self.bundle(version)

    def bundle(self, version, base=None):
        """The offline bundle of `version`: full, or with `base` only the deltas from it. Made
        again when the repository's metadata changed since: a bundle carries the newest signed
        metadata (a device that has seen a newer timestamp rightly refuses an older one)."""
        out = os.path.join(self.work, "bundles",
                           "%s%s.bundle" % (version, "-from-" + base if base else ""))
        with open(os.path.join(self.repo, "metadata", "timestamp.json"), "rb") as f:
            metadata = hashlib.sha256(f.read()).hexdigest()
        if not os.path.exists(out) or self._bundled_with.get(out) != metadata:
            os.makedirs(os.path.dirname(out), exist_ok=True)
            args = [program("ferry-publish"), "bundle", "--repo", self.repo, "--app", self.app,
                    "--version", version, "--out", out]
            if base:
                args += ["--base-version", base]
            run(args, timeout=300)
            self._bundled_with[out] = metadata
        return out


class RepoServer:
    """ferry-server serving a repository on a fixed loopback port, so that it can be killed and
    started again where ferryd expects it."""

    def __init__(self, repo, log_path):
        self.repo = repo
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = log_path
        self.proc = None

    def start(self):
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [program("ferry-server"), "serve", "--repo", self.repo, "--listen",
                 "127.0.0.1:%d" % self.port], stdout=log, stderr=log)
        if not wait_for(lambda: self._answers() or self.proc.poll() is not None, 10):
            raise RuntimeError("ferry-server did not answer within 10 s")

    def _answers(self):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------
# The power cut


class LoopDisk:
    """An ext4 filesystem in a sparse file, attached to a loop device and mounted at `mountpoint`
    with noauto_da_alloc (no implicit flush on rename-over-a-file: only what was fsynced survives).
    cut() stops it as a power failure would: nothing more reaches the "disk" from that instant."""

    def __init__(self, image, mountpoint, size_mb=512):
        self.image = image
        self.mountpoint = mountpoint
        self.device = None
        self.fsck_log = []
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", image])
        os.makedirs(mountpoint, exist_ok=True)
        self.attach_and_mount()

    def attach_and_mount(self, fsck=False):
        self.device = run(["losetup", "--find", "--show", self.image]).stdout.strip()
        if fsck:
            r = run(["fsck.ext4", "-y", self.device], check=False)
            # 0: clean; 1: errors corrected (journal replay is not one). Anything else is news.
            self.fsck_log.append((r.returncode, r.stdout[-2000:]))
        run(["mount", "-t", "ext4", "-o", "noauto_da_alloc", self.device, self.mountpoint])

    def cut(self):
        fd = os.open(self.mountpoint, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
        finally:
            os.close(fd)

    def unmount_and_detach(self):
        unmount_all_below(self.mountpoint)
        if self.device:
            subprocess.run(["losetup", "-d", self.device], capture_output=True)
            self.device = None

    def cleanup(self):
        self.unmount_and_detach()
        # A loop device left attached to our image (by a failure half-way) is ours to detach.
        r = subprocess.run(["losetup", "-j", self.image], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            subprocess.run(["losetup", "-d", line.split(":")[0]], capture_output=True)


# ---------------------------------------------------------------------------------------------
# The device


class Device:
    def __init__(self, work, app, port, loop_disk=False, log=None):
        self.work = work
        self.app = app
        self.port = port
        self.state = os.path.join(work, "state")
        self.run_dir = os.path.join(work, "run")  # a tmpfs: runc's state, gone at a power cut
        self.runc_root = os.path.join(self.run_dir, "runc")
        self.socket = os.path.join(work, "ferryd.sock")
        # Unique per device on this host: other runs may use the same seeds at the same time.
        self.cgroup_parent = "/ferry-lab-%s" % hashlib.sha256(work.encode()).hexdigest()[:12]
        self.log_path = os.path.join(work, "ferryd.log")
        self.trusted_root = None
        self.runc_binary = RUNC
        self.proc = None
        self.log = log or (lambda msg: None)
        os.makedirs(self.run_dir, exist_ok=True)
        run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", self.run_dir])
        self.disk = LoopDisk(os.path.join(work, "disk.img"), self.state) if loop_disk else None
        os.makedirs(self.state, exist_ok=True)

    # -- ferryd

    def write_config(self, trusted_root, repository_url=None):
        self.trusted_root = trusted_root
        with open(os.path.join(self.work, "ferryd.toml"), "w") as f:
            if repository_url:
                f.write('repository_url = "%s"\n' % repository_url)
            f.write('state_dir = "%s"\nsocket = "%s"\ntrusted_root = "%s"\nlog_level = "debug"\n'
                    '\n[runtime]\nrunc = "%s"\nroot = "%s"\nstop_timeout = 1\ncgroup_parent = "%s"\n'
                    % (self.state, self.socket, trusted_root, RUNC, self.runc_root,
                       self.cgroup_parent))

    def start(self, env=None, wait=True):
        with open(self.log_path, "a") as log:
            log.write("\n==== ferryd started%s\n" % (" with %s" % env if env else ""))
        e = dict(os.environ)
        e.pop("FERRY_CRASHPOINT", None)
        e.update(env or {})
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [program("ferryd"), "--config", os.path.join(self.work, "ferryd.toml")],
                stdout=subprocess.DEVNULL, stderr=log, env=e)
        if wait and not wait_for(lambda: self.ferry("status").returncode == 0 or
                                 self.proc.poll() is not None, 30):
            raise RuntimeError("ferryd did not answer within 30 s")
        return self.proc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait_exit(self, timeout=30):
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self):
        self.signal(signal.SIGKILL)
        return self.wait_exit()

    def stop(self):
        self.signal(signal.SIGTERM)
        return self.wait_exit()

    # -- the CLI and the app

    def ferry(self, *args, timeout=120):
        return run([program("ferry"), "--socket", self.socket] + list(args), check=False,
                   timeout=timeout)

    def ferry_popen(self, *args):
        return subprocess.Popen([program("ferry"), "--socket", self.socket] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def status(self):
        r = self.ferry("--json", "status", timeout=10)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def page(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/" % self.port, timeout=2) as resp:
                return resp.read().decode(errors="replace")
        except Exception:
            return None

    def containers(self):
        r = run([RUNC, "--root", self.runc_root, "list", "--format", "json"], check=False)
        if r.returncode != 0 or not r.stdout.strip():
            return []
        return json.loads(r.stdout) or []

    def kill_app(self):
        for c in self.containers():
            if c.get("status") == "running":
                run([RUNC, "--root", self.runc_root, "kill", c["id"], "KILL"], check=False)

    # -- a power cut

    def power_cut(self):
        """Cuts the state filesystem, then does what losing power does to the rest: every process
        dies, runc's tmpfs state and every mount vanish. Then the filesystem is mounted again (after
        fsck), as at the next boot. ferryd is not started."""
        self.disk.cut()
        self.kill()
        self.drop_containers()
        run(["umount", self.run_dir], check=False)
        run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", self.run_dir])
        self.disk.unmount_and_detach()
        self.disk.attach_and_mount(fsck=True)

    def drop_containers(self):
        for c in self.containers():
            run([RUNC, "--root", self.runc_root, "kill", c["id"], "KILL"], check=False)
        for c in self.containers():
            run([RUNC, "--root", self.runc_root, "delete", "--force", c["id"]], check=False)

    def cleanup(self):
        if self.alive():
            self.kill()
        with contextlib.suppress(Exception):
            self.drop_containers()
        # Overlay roots first (deepest first), then the state filesystem, then the tmpfs.
        unmount_all_below(self.work)
        if self.disk:
            self.disk.cleanup()
        for controller in os.listdir("/sys/fs/cgroup"):
            base = os.path.join("/sys/fs/cgroup", controller, self.cgroup_parent.lstrip("/"))
            if os.path.isdir(base):
                for sub in sorted((os.path.join(d, n) for d, ns, _ in os.walk(base) for n in ns),
                                  key=lambda p: -p.count("/")):
                    with contextlib.suppress(OSError):
                        os.rmdir(sub)
                with contextlib.suppress(OSError):
                    os.rmdir(base)


@contextlib.contextmanager
def temp_work(prefix):
    """A temp dir removed with everything mounted in it, whatever happens."""
    work = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("FERRY_TEST_TMP", "/tmp"))
    try:
        yield work
    finally:
        unmount_all_below(work)
        shutil.rmtree(work, ignore_errors=True)
