#!/usr/bin/python3
"""Cost of the hook for a VM with no policy: wall time and peak RSS over N runs.

    python3 bench/hook_nopolicy.py --bin build/pve-ontap [--runs 1000] [--linked]

--linked preloads libcurl.so.4, libssl.so.3 and libcrypto.so.3 (LD_PRELOAD), which costs
what linking them would: the figure to compare the lazy dlopen() of lib/net/netlib.c with.

Runs `pve-ontap <vmid> pre-stop` exactly as PVE does (argv only, stdin closed, LC_ALL=C)
against a config whose ONTAP and PVE endpoints are unreachable addresses on loopback:
a run that tried to talk to either would show up as a multi-second outlier.
A small static launcher (compiled with cc) spawns each run and reports its wall time and
its own peak RSS. Run by hand; prints figures, asserts nothing.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

CONFIG = """\
pve:
  host: 127.0.0.1
  port: 9
  token: root@pam!bench=00000000-0000-0000-0000-000000000000
ontap:
  cluster1:
    host: 127.0.0.1
    port: 9
    user: admin
    password_file: {T}/pw
storages:
  ONTAP01:
    ontap: cluster1
    svm: svm1
paths:
  pve_etc: {T}/etc/pve
  policies: {T}/policies
  queue: {T}/queue
  state: {T}/state
  lock: {T}/lock
  mnt: {T}/mnt
"""


# A minimal C parent: a child forked from this interpreter would carry the interpreter's
# high-water mark through exec (Linux keeps the old mm's hiwater in ru_maxrss).
LAUNCHER = r"""
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
extern char **environ;
int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	pid_t pid;
	int st;

	(void)argc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (posix_spawn(&pid, argv[1], NULL, NULL, argv + 1, environ) != 0)
		return 2;
	if (wait4(pid, &st, 0, &ru) < 0)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%d %ld %ld\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128, ru.ru_maxrss,
	       (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000);
	return 0;
}
"""


def build_launcher(tmp):
    src, exe = os.path.join(tmp, "launch.c"), os.path.join(tmp, "launch")
    with open(src, "w") as f:
        f.write(LAUNCHER)
    subprocess.run(["cc", "-O2", "-static", "-o", exe, src], check=True)
    return exe


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/pve-ontap")
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--linked", action="store_true")
    a = ap.parse_args()
    exe = os.path.abspath(a.bin)
    with tempfile.TemporaryDirectory() as T:
        for d in ("etc/pve", "policies", "queue", "state", "lock", "mnt"):
            os.makedirs(os.path.join(T, d))
        with open(os.path.join(T, "pw"), "w") as f:
            f.write("secret\n")
        os.chmod(os.path.join(T, "pw"), 0o600)
        cfg = os.path.join(T, "config.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(T=T))
        os.chmod(cfg, 0o600)
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "PVE_ONTAP_CONFIG": cfg}
        if a.linked:
            env["LD_PRELOAD"] = "libcurl.so.4:libssl.so.3:libcrypto.so.3"
        times, rss, failures = [], [], 0
        launcher = build_launcher(T)
        for _ in range(a.runs):
            out = subprocess.run([launcher, exe, "100", "pre-stop"], env=env,
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 check=True).stdout.split()
            times.append(int(out[2]) / 1000.0)
            rss.append(int(out[1]))
            failures += int(out[0]) != 0
        base = subprocess.run([launcher, "/bin/true"], capture_output=True, text=True,
                              check=True).stdout.split()
        times.sort()
        print("hook with no policy, %d runs%s" % (a.runs, " (TLS libraries loaded at exec)"
                                                  if a.linked else ""))
        print("  wall ms: mean %.2f  p50 %.2f  p99 %.2f  max %.2f" % (
            statistics.mean(times), times[len(times) // 2],
            times[int(len(times) * 0.99) - 1], times[-1]))
        print("  peak RSS KiB: max %d  median %d  (/bin/true from the same launcher: %s)" % (
            max(rss), statistics.median(rss), base[1]))
        print("  non-zero exits: %d" % failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
