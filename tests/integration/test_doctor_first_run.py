"""doctor on a first run (issue 17, point 5): no configuration yet, ONTAP's self-signed
certificate, and the wording of a too-open configuration file."""

import hashlib
import os
import ssl

NONROOT = {"PVE_ONTAP_ALLOW_NONROOT": "1"}


def lines(out, kind):
    tag = {"ok": "ok   ", "warn": "warn ", "FAIL": "FAIL "}[kind]
    return [line[5:] for line in out.splitlines() if line.startswith(tag)]


def test_without_config_points_to_the_example_and_runs_the_rest(env):
    # neither --config nor $PVE_ONTAP_CONFIG, and no /etc/pve*/pve-ontap/config.yaml here
    assert not os.path.exists("/etc/pve/pve-ontap/config.yaml")
    assert not os.path.exists("/etc/pve-ontap/config.yaml")
    r = env.run("doctor", config=False, env={"PVE_ONTAP_CONFIG": ""})
    assert r.returncode == 1
    (fail,) = lines(r.stdout, "FAIL")
    assert fail.startswith("config: no configuration file"), fail
    assert "cp /usr/share/doc/pve-ontap/examples/config.yaml /etc/pve/pve-ontap/config.yaml" \
        in fail
    # the checks that need no configuration still ran, with the default paths
    rest = lines(r.stdout, "ok") + lines(r.stdout, "warn")
    assert any(x.startswith("hookscript binary: '/var/lib/vz/snippets/pve-ontap'")
               for x in rest), r.stdout
    assert any(x.startswith("watcher: ") for x in rest + [fail]), r.stdout
    assert any(x.startswith("queue directory '/var/lib/pve-ontap/queue'") for x in rest), \
        r.stdout
    # a --config that names a missing file is the same first run
    r = env.run("doctor", "--config", os.path.join(env.T, "nosuch.yaml"), config=False)
    assert "examples/config.yaml" in lines(r.stdout, "FAIL")[0], r.stdout


def server_fingerprint(port):
    der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port)))
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, 64, 2))


def test_unverifiable_certificate_prints_its_fingerprint_and_the_line_to_pin_it(env):
    # no ca_file: the simulator's certificate (a throw-away CA, as ONTAP's self-signed
    # one) does not verify against the system store
    del env.config["ontap"]["cluster1"]["ca_file"]
    env.write_config()
    fp = server_fingerprint(env.ontap.port)
    r = env.run("doctor", timeout=120)
    assert r.returncode == 1
    fails = [f for f in lines(r.stdout, "FAIL") if f.startswith("ONTAP cluster 'cluster1' TLS")]
    assert len(fails) == 2, r.stdout
    assert ("the server's certificate has SHA-256 fingerprint %s;" % fp) in fails[1]
    assert fails[1].endswith("add under 'ontap: cluster1:' in the config the line   "
                             "fingerprint: \"%s\"" % fp), fails[1]
    # nothing was sent beyond the handshake: no credentials, no request reached ONTAP
    assert all(q["method"] == "GET" for q in env.ontap.requests)
    # the line, added as printed, makes TLS pass
    env.config["ontap"]["cluster1"]["fingerprint"] = fp
    env.write_config()
    r = env.run("doctor", timeout=120)
    assert "ONTAP cluster 'cluster1' TLS: certificate matches the pinned fingerprint" in \
        lines(r.stdout, "ok"), r.stdout


def test_group_readable_config_is_named_for_its_group(env):
    os.chmod(env.config_path, 0o640)
    r = env.run("doctor", timeout=120)
    out = r.stdout + r.stderr
    assert "is readable by its group (mode 0640)" in out, out
    assert "by others" not in out and "group or others" not in out, out
    os.chmod(env.config_path, 0o604)
    r = env.run("doctor", timeout=120)
    assert "is readable by others (mode 0604)" in r.stdout + r.stderr
