/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The schedule clock (clock.h). */
#include "sched/clock.h"

#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/util.h"

#define TEST_OFFSET_MAX_S (10LL * 366 * 86400)

/* "@<file>": the offset is the file's content, read at every call, so that a test can move
 * the clock of a running daemon (then SIGHUP it to look again). */
static const char *offset_text(const char *s, char *tmp, size_t n)
{
	ssize_t len;
	int fd;

	if (s[0] != '@')
		return s;
	fd = open(s + 1, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	len = read(fd, tmp, n - 1);
	close(fd);
	if (len <= 0)
		return NULL;
	tmp[len] = '\0';
	while (len > 0 && (tmp[len - 1] == '\n' || tmp[len - 1] == ' '))
		tmp[--len] = '\0';
	return tmp;
}

int64_t sched_now(void)
{
	const char *s = getenv("PVE_ONTAP_TEST_NOW_OFFSET");
	char tmp[32];
	int64_t off = 0;

	if (s && *s) {
		s = offset_text(s, tmp, sizeof(tmp));
		if (!s || util_parse_int(s, -TEST_OFFSET_MAX_S, TEST_OFFSET_MAX_S, &off) < 0) {
			off = 0;
			err_clear();
		}
	}
	return (int64_t)time(NULL) + off;
}
