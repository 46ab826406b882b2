/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_TESTUTIL_H
#define PVE_ONTAP_TESTUTIL_H

/* Temporary directories for the unit tests: one way to make them, one to remove them. */

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base/util.h"

static inline int testutil_rm_entry(const char *path, const struct stat *st, int flag,
				    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove path and everything below it (symbolic links are removed, not followed). */
static inline void testutil_rm_rf(const char *path)
{
	nftw(path, testutil_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new directory "/tmp/<name>.XXXXXX"; returns its path (caller frees), NULL on failure. */
static inline char *testutil_mkdtemp(const char *name)
{
	char *tmpl = util_xasprintf("/tmp/%s.XXXXXX", name);

	if (!mkdtemp(tmpl)) {
		free(tmpl);
		return NULL;
	}
	return tmpl;
}

#endif
