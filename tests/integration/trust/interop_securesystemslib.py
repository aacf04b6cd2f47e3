"""Interoperability: a repository signed by securesystemslib (the crypto layer of the reference
TUF implementation) with ed25519, ecdsa and rsa keys, indented JSON and unknown fields, served on
127.0.0.1 port 0, must be accepted by ferry-tuf-client through init, refresh and download.

Usage: interop_securesystemslib.py PATH/TO/ferry-tuf-client
Exit 0 on success, 1 on failure, 77 (skipped) when securesystemslib is not installed
(Debian: python3-securesystemslib).
"""
import datetime, hashlib, http.server, json, os, shutil, subprocess, sys, threading, tempfile

try:
    import securesystemslib.keys as K
    from securesystemslib.formats import encode_canonical
except ImportError:
    print("securesystemslib not installed: skipped")
    sys.exit(77)

client = sys.argv[1]
tmp = tempfile.mkdtemp()
repo = os.path.join(tmp, "repo"); os.makedirs(repo + "/metadata"); os.makedirs(repo + "/targets/dir")
exp = (datetime.datetime.utcnow() + datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
keys = {"root": K.generate_ed25519_key(), "timestamp": K.generate_ecdsa_key(),
        "snapshot": K.generate_rsa_key(), "targets": K.generate_ed25519_key()}
def pub(k):
    return {"keytype": k["keytype"], "scheme": k["scheme"], "keyval": {"public": k["keyval"]["public"]}}
def sign(signed, role):
    data = encode_canonical(signed).encode()
    sig = K.create_signature(keys[role], data)
    return json.dumps({"signed": signed, "signatures": [sig]}, indent=1).encode()
def write(name, b):
    open(os.path.join(repo, name), "wb").write(b)
root = {"_type": "root", "spec_version": "1.0.31", "version": 1, "expires": exp,
        "consistent_snapshot": True, "keys": {k["keyid"]: pub(k) for k in keys.values()},
        "roles": {r: {"keyids": [keys[r]["keyid"]], "threshold": 1} for r in keys},
        "x-unknown": {"b": 1, "a": "\u00e9\n"}}
root_b = sign(root, "root"); write("metadata/1.root.json", root_b)
content = b"interop target\n"
h = hashlib.sha256(content).hexdigest()
write(f"targets/dir/{h}.file.txt", content)
targets = {"_type": "targets", "spec_version": "1.0.31", "version": 1, "expires": exp,
           "targets": {"dir/file.txt": {"length": len(content), "hashes": {"sha256": h, "sha512": hashlib.sha512(content).hexdigest()}}}}
t_b = sign(targets, "targets"); write("metadata/1.targets.json", t_b)
snap = {"_type": "snapshot", "spec_version": "1.0.31", "version": 1, "expires": exp,
        "meta": {"targets.json": {"version": 1, "length": len(t_b), "hashes": {"sha256": hashlib.sha256(t_b).hexdigest()}}}}
s_b = sign(snap, "snapshot"); write("metadata/1.snapshot.json", s_b)
ts = {"_type": "timestamp", "spec_version": "1.0.31", "version": 1, "expires": exp,
      "meta": {"snapshot.json": {"version": 1, "length": len(s_b), "hashes": {"sha256": hashlib.sha256(s_b).hexdigest()}}}}
write("metadata/timestamp.json", sign(ts, "timestamp"))
open(os.path.join(tmp, "root.json"), "wb").write(root_b)

class H(http.server.SimpleHTTPRequestHandler):
    def __init__(s, *a, **kw): super().__init__(*a, directory=repo, **kw)
    def log_message(s, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{srv.server_address[1]}"
md = os.path.join(tmp, "md"); os.makedirs(md)
def run(*args):
    r = subprocess.run([client, *args]); print(args[-1], "->", r.returncode); return r.returncode
ok = run("--metadata-dir", md, "init", os.path.join(tmp, "root.json")) == 0
ok &= run("--metadata-url", base + "/metadata", "--metadata-dir", md, "refresh") == 0
ok &= run("--metadata-url", base + "/metadata", "--metadata-dir", md, "--target-name", "dir/file.txt",
          "--target-dir", os.path.join(tmp, "t"), "--target-base-url", base + "/targets", "download") == 0
ok &= open(os.path.join(tmp, "t", "dir%2Ffile.txt"), "rb").read() == content
print("keytypes:", {r: k["keytype"] for r, k in keys.items()})
print("interop", "ok" if ok else "FAILED")
srv.shutdown()
shutil.rmtree(tmp)
sys.exit(0 if ok else 1)
