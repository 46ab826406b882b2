# SPDX-License-Identifier: GPL-2.0-or-later
"""The cluster lock as pmxcfs keeps it (DESIGN.md "Cluster", issue 15.4): it lives 120 s
from its directory's mtime, the holder refreshes that mtime while it works, a waiter
takes over only an expired lock or one of a dead local process, and never by rename:
pmxcfs refuses rename of lock directories (pve-cluster src/pmxcfs/memdb.c, "we do not
allow rename for locks").  Every run here has a preloaded shim that makes rename of
anything under the lock directory fail with EACCES, as pmxcfs does, and lock times
scaled by PVE_ONTAP_TEST_LOCK_SCALE (HACKING.md): 0.02 makes the lifetime 2.4 s and the
refresh 200 ms."""

import os
import re
import subprocess
import time

import pytest

from certcache import fast_certs  # noqa: F401
from conftest import binary

pytestmark = pytest.mark.usefixtures("fast_certs")

SCALE = "0.02"
LIFETIME = 120 * float(SCALE)   # seconds
DISKS = {"scsi0": ("vm-100-disk-0.raw", 16 * 1024), "scsi1": ("vm-100-disk-1.raw", 8 * 1024)}

SHIM = r'''
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

/* pmxcfs: "we do not allow rename for locks" (memdb.c) */
static int is_lock(const char *p)
{
	return p && strstr(p, "/priv/lock/") != NULL;
}

int rename(const char *a, const char *b)
{
	int (*real)(const char *, const char *) = dlsym(RTLD_NEXT, "rename");

	if (is_lock(a) || is_lock(b)) {
		errno = EACCES;
		return -1;
	}
	return real(a, b);
}

int renameat(int fa, const char *a, int fb, const char *b)
{
	int (*real)(int, const char *, int, const char *) = dlsym(RTLD_NEXT, "renameat");

	if (is_lock(a) || is_lock(b)) {
		errno = EACCES;
		return -1;
	}
	return real(fa, a, fb, b);
}

int renameat2(int fa, const char *a, int fb, const char *b, unsigned int flags)
{
	int (*real)(int, const char *, int, const char *, unsigned int) =
		dlsym(RTLD_NEXT, "renameat2");

	if (is_lock(a) || is_lock(b)) {
		errno = EACCES;
		return -1;
	}
	return real(fa, a, fb, b, flags);
}
'''


@pytest.fixture
def norename(tmp_path_factory):
    d = tmp_path_factory.mktemp("shim")
    src, so = d / "norename.c", d / "norename.so"
    src.write_text(SHIM)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src), "-ldl"], check=True)
    return str(so)


def spawn(env, shim, *argv):
    e = {"PATH": os.path.join(env.T, "bin") + ":/usr/sbin:/usr/bin:/sbin:/bin",
         "LC_ALL": "C", "PVE_ONTAP_TEST_LOCK_SCALE": SCALE, "LD_PRELOAD": shim}
    # make check-sanitize: the shim is preloaded before the ASan runtime, which is fine for
    # a shim that only wraps rename(); the rest of the sanitizer settings carry over
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            e[k] = os.environ[k]
    if "ASAN_OPTIONS" in e:
        e["ASAN_OPTIONS"] += ":verify_asan_link_order=0"
    return subprocess.Popen([binary(), "--config", env.config_path] + list(argv),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e, cwd=env.T)


def lock_dir(env):
    return os.path.join(env.paths["lock"], "pve-ontap-vm-100")


def mtime_ns(path):
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def clone_posts(env):
    return [q for q in env.ontap.requests
            if q["method"] == "POST" and q["path"] == "/api/storage/file/clone"]


def snapshot_of(post):
    m = re.search(r"-snap-(manual-\d{8}T\d{6}Z)\.raw$", post["body"]["destination_path"])
    return m.group(1)


def old_lock(env, owner):
    """A lock dir with `owner`, last refreshed 10 lifetimes ago."""
    d = lock_dir(env)
    os.mkdir(d, 0o700)
    with open(os.path.join(d, "owner"), "w") as f:
        f.write(owner)
    t = time.time() - 10 * LIFETIME
    os.utime(d, (t, t))


def test_live_lock_is_refreshed_and_never_taken_over(env, norename):
    """A job three lifetimes long: its lock's mtime advances all the while, and a second
    run waits for it instead of taking it over."""
    env.add_vm(100, disks=DISKS)
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "latency", count=2,
                        seconds=3 * LIFETIME)
    a = spawn(env, norename, "vm", "create", "--vm", "100")
    seen = []
    end = time.monotonic() + 30
    while a.poll() is None and time.monotonic() < end:
        m = mtime_ns(lock_dir(env))
        if m is not None and (not seen or seen[-1] != m):
            seen.append(m)
        if len(seen) == 2 and not hasattr(a, "b"):
            a.b = spawn(env, norename, "vm", "create", "--vm", "100")
        time.sleep(0.05)
    out_a, err_a = a.communicate(timeout=30)
    out_b, err_b = a.b.communicate(timeout=60)
    assert a.returncode == 0, err_a
    assert a.b.returncode == 0, err_b
    # the mtime advanced again and again during a job three lifetimes long
    assert len(seen) >= 4, seen
    assert seen == sorted(seen)
    assert (seen[-1] - seen[0]) / 1e9 > LIFETIME, seen
    assert "taking over" not in err_b and "taken over" not in err_a, (err_a, err_b)
    # B's clones were asked for only after A's were all answered: A held the lock throughout
    posts = clone_posts(env)
    names = [snapshot_of(q) for q in posts]
    assert len(set(names)) == 2 and names[:2] == [names[0]] * 2, names
    assert not os.path.exists(lock_dir(env))


def test_expired_lock_taken_over_without_rename(env, norename):
    env.add_vm(100, disks=DISKS)
    old_lock(env, "pve2 4242 %d\n" % int(time.time()))
    p = spawn(env, norename, "vm", "create", "--vm", "100")
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "taking over stale lock" in err and "pve2 pid 4242" in err
    assert len(clone_posts(env)) == 2
    assert sorted(os.listdir(env.paths["lock"])) == []


def test_dead_local_owner_taken_over_at_once(env, norename):
    env.add_vm(100, disks=DISKS)
    dead = subprocess.Popen(["true"])
    dead.wait()
    os.mkdir(lock_dir(env), 0o700)
    with open(os.path.join(lock_dir(env), "owner"), "w") as f:
        f.write("%s %d %d\n" % (os.uname().nodename, dead.pid, int(time.time())))
    p = spawn(env, norename, "vm", "create", "--vm", "100")
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "taking over stale lock" in err and "pid %d" % dead.pid in err
    assert sorted(os.listdir(env.paths["lock"])) == []


def test_one_waiter_takes_over_among_many(env, norename):
    """Four runs meet one expired lock at once: exactly one takes it over, the others
    wait for their turn; each snapshot is whole and none overlapped another."""
    env.add_vm(100, disks=DISKS)
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "latency", count=8,
                        seconds=1.1)
    old_lock(env, "pve2 4242 %d\n" % int(time.time()))
    procs = [spawn(env, norename, "vm", "create", "--vm", "100") for _ in range(4)]
    errs = []
    for p in procs:
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err
        errs.append(err)
    assert sum(e.count("taking over stale lock") for e in errs) == 1, errs
    names = [snapshot_of(q) for q in clone_posts(env)]
    # the lock serialised them: each run's two clone requests are adjacent
    assert len(names) == 8 and len(set(names)) == 4, names
    assert all(names[i] == names[i + 1] for i in range(0, 8, 2)), names
    assert sorted(os.listdir(env.paths["lock"])) == []
