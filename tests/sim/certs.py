"""Throw-away TLS material for the simulators and the TLS tests.

make_certs(dirpath) creates, with the openssl CLI (no Python crypto package is assumed):

  ca.pem / ca.key                      a CA that the tests trust (config ca_file)
  server.pem / server.key              signed by the CA, SAN 127.0.0.1 + localhost
  expired.pem / expired.key            signed by the CA, SAN as above, already expired
  wronghost.pem / wronghost.key        signed by the CA, SAN only wrong.example
  selfsigned.pem / selfsigned.key      SAN 127.0.0.1 + localhost, not from the CA

and returns a dict of absolute paths plus the SHA-256 fingerprints of the leaf
certificates ("AA:BB:...", the form the config's `fingerprint:` takes).
EC P-256 keys keep the whole run well under a second. Results are cached per
directory (in this process, and on disk through certs.json) because every test
tree asks for them.
"""

import hashlib
import json
import os
import ssl
import subprocess
import sys
import threading

_lock = threading.Lock()
_cache = {}

_LEAF_EXT = """\
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
subjectAltName={san}
"""

_LOCAL_SAN = "IP:127.0.0.1,DNS:localhost"


def _run(argv):
    # argv lists only: nothing goes through a shell.
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError("openssl failed: %s: %s" % (" ".join(argv), proc.stderr.decode(errors="replace")))


def _genkey(path):
    _run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path])
    os.chmod(path, 0o600)


def _signed_leaf(d, name, cn, san, days, ca, ca_key, serial):
    key = os.path.join(d, name + ".key")
    csr = os.path.join(d, name + ".csr")
    ext = os.path.join(d, name + ".ext")
    pem = os.path.join(d, name + ".pem")
    _genkey(key)
    _run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr])
    with open(ext, "w") as f:
        f.write(_LEAF_EXT.format(san=san))
    # A negative -days gives notAfter < notBefore = now: an expired certificate
    # without faking the clock.
    _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
          "-set_serial", str(serial), "-days", str(days), "-sha256", "-extfile", ext, "-out", pem])
    os.unlink(csr)
    os.unlink(ext)
    return pem, key


def sha256_fingerprint(pem_path):
    """SHA-256 of the certificate's DER encoding as 32 colon-separated upper-case pairs."""
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _build(d):
    os.makedirs(d, exist_ok=True)
    ca_key = os.path.join(d, "ca.key")
    ca = os.path.join(d, "ca.pem")
    _genkey(ca_key)
    _run(["openssl", "req", "-new", "-x509", "-key", ca_key, "-subj", "/CN=pve-ontap test CA",
          "-days", "3650", "-sha256",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-addext", "subjectKeyIdentifier=hash",
          "-out", ca])
    out = {"dir": d, "ca": ca, "ca_key": ca_key}
    for serial, (name, cn, san, days) in enumerate([
            ("server", "localhost", _LOCAL_SAN, 3650),
            ("expired", "localhost", _LOCAL_SAN, -1),
            ("wronghost", "wrong.example", "DNS:wrong.example", 3650)], start=2):
        pem, key = _signed_leaf(d, name, cn, san, days, ca, ca_key, serial)
        out[name] = pem
        out[name + "_key"] = key
    ss_key = os.path.join(d, "selfsigned.key")
    ss = os.path.join(d, "selfsigned.pem")
    _genkey(ss_key)
    _run(["openssl", "req", "-new", "-x509", "-key", ss_key, "-subj", "/CN=localhost",
          "-days", "3650", "-sha256", "-addext", "subjectAltName=" + _LOCAL_SAN, "-out", ss])
    out["selfsigned"] = ss
    out["selfsigned_key"] = ss_key
    # Convenient aliases: the names most callers want.
    out["cert"] = out["server"]
    out["key"] = out["server_key"]
    out["fingerprints"] = {n: sha256_fingerprint(out[n])
                           for n in ("ca", "server", "expired", "wronghost", "selfsigned")}
    out["fingerprint"] = out["fingerprints"]["server"]
    with open(os.path.join(d, "certs.json"), "w") as f:
        json.dump(out, f, indent=1)
    return out


def make_certs(dirpath):
    """Create (or reuse) the certificate set in dirpath; returns the dict described above."""
    d = os.path.abspath(str(dirpath))
    with _lock:
        if d in _cache:
            return dict(_cache[d])
        index = os.path.join(d, "certs.json")
        out = None
        if os.path.exists(index):
            with open(index) as f:
                out = json.load(f)
            if not all(os.path.exists(out[k]) for k in ("ca", "server", "server_key", "expired",
                                                          "wronghost", "selfsigned")):
                out = None
        if out is None:
            out = _build(d)
        _cache[d] = out
        return dict(out)


if __name__ == "__main__":
    print(json.dumps(make_certs(sys.argv[1] if len(sys.argv) > 1 else "."), indent=1))
