/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_WATCH_H
#define PVE_ONTAP_WATCH_H

#include <stdbool.h>

/*
 * The watcher of DESIGN.md "Watcher": inotify on the job queue (the fast path), on the NFS
 * image directories of the configured storages and on /dev, plus a periodic reconcile.
 * It loads the configuration from config_path (NULL: the DESIGN.md search order) and
 * reloads it on SIGHUP; SIGTERM and SIGINT finish the job in hand and return 0.
 * once: process the pending job files and one reconcile, then return (0 when every job
 * succeeded, POE_FAIL when some are left for a later run, e.g. a locked VM).
 * Returns 0 or a POE_* code (err_set() holds the message).
 */
int watch_run(const char *config_path, bool once);

#endif
