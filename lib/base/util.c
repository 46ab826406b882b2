/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

static int64_t util_global_deadline;

int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void util_deadline_set_global(int64_t deadline_ms)
{
	util_global_deadline = deadline_ms;
}

int64_t util_deadline_global(void)
{
	return util_global_deadline;
}

int64_t util_deadline_own(int64_t ms)
{
	return -(util_now_ms() + ms);
}

int64_t util_deadline_within(int64_t d, int64_t ms)
{
	int64_t at = util_now_ms() + ms;

	if (d < 0)
		return -d < at ? d : -at;
	return d && d < at ? d : at;
}

int64_t util_deadline_min(int64_t d)
{
	if (d < 0) /* util_deadline_own(): stays one, however often it is resolved */
		return d;
	if (d == 0)
		return util_global_deadline;
	if (util_global_deadline == 0)
		return d;
	return d < util_global_deadline ? d : util_global_deadline;
}

int64_t util_deadline_left(int64_t d)
{
	int64_t left;

	d = util_deadline_at(d);
	if (d == 0)
		return INT64_MAX;
	left = d - util_now_ms();
	return left > 0 ? left : 0;
}

int64_t util_deadline_at(int64_t d)
{
	d = util_deadline_min(d);
	return d < 0 ? -d : d;
}

bool util_deadline_passed(int64_t d)
{
	d = util_deadline_at(d);
	return d != 0 && util_now_ms() >= d;
}

/* PVE_ONTAP_TEST_TIME_SCALE in parts per million, read once; 0 = not read yet. */
static atomic_int sleep_scale_ppm;

static int64_t scaled(int64_t ms)
{
	int ppm = atomic_load(&sleep_scale_ppm);

	if (ppm == 0) {
		const char *e = getenv("PVE_ONTAP_TEST_TIME_SCALE");
		char *end = NULL;
		double f = e ? strtod(e, &end) : 1.0;

		if (!e || end == e || *end || !(f > 0.0 && f <= 1.0))
			f = 1.0; /* anything else is ignored */
		ppm = (int)(f * 1000000.0);
		if (ppm < 1)
			ppm = 1;
		atomic_store(&sleep_scale_ppm, ppm);
	}
	return ppm == 1000000 ? ms : ms * ppm / 1000000;
}

int64_t util_jitter_ms(int64_t ms)
{
	static _Thread_local uint64_t x;

	if (ms <= 1)
		return ms;
	if (x == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		    (uint64_t)(uintptr_t)&ts;
		x |= 1;
	}
	/* xorshift64 */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return ms / 2 + (int64_t)(x % (uint64_t)ms);
}

int util_sleep_ms(int64_t ms, int64_t deadline)
{
	int64_t left = util_deadline_left(deadline);
	int64_t end;
	bool cut = false;

	ms = scaled(ms);
	if (left == 0)
		return err_set(POE_TIMEOUT, "deadline expired");
	if (ms > left) {
		ms = left;
		cut = true;
	}
	if (ms < 0)
		ms = 0;
	end = util_now_ms() + ms;
	/* Signal handlers only set flags (STYLE.md #11): resume the sleep after EINTR. */
	for (;;) {
		int64_t now = util_now_ms();
		struct timespec ts;

		if (now >= end)
			break;
		ts.tv_sec = (end - now) / 1000;
		ts.tv_nsec = ((end - now) % 1000) * 1000000;
		if (nanosleep(&ts, NULL) == 0)
			break;
		if (errno != EINTR)
			break;
	}
	if (cut)
		return err_set(POE_TIMEOUT, "deadline expired");
	return 0;
}

void util_ts_format(time_t t, char out[17])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		util_strlcpy(out, "19700101T000000Z", 17);
}

/* n decimal digits at s into *v; false unless all are digits. */
static bool digits(const char *s, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return true;
}

/* timegm() of the fields, refusing out-of-range ones (timegm would normalise them). */
static int make_utc(int y, int mo, int d, int h, int mi, int s, time_t *out)
{
	struct tm tm = { 0 };
	struct tm chk;
	time_t t;

	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
		return POE_FAIL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	t = timegm(&tm);
	/* 31 February comes back as 3 March: reject by comparing. */
	if (!gmtime_r(&t, &chk) || chk.tm_mday != d || chk.tm_mon != mo - 1)
		return POE_FAIL;
	*out = t;
	return 0;
}

int util_ts_parse(const char *s, time_t *out)
{
	int y, mo, d, h, mi, sec;

	if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' || !digits(s, 4, &y) ||
	    !digits(s + 4, 2, &mo) || !digits(s + 6, 2, &d) || !digits(s + 9, 2, &h) ||
	    !digits(s + 11, 2, &mi) || !digits(s + 13, 2, &sec) ||
	    make_utc(y, mo, d, h, mi, sec, out) < 0)
		return err_set(POE_FAIL, "invalid timestamp '%s' (expected YYYYMMDDTHHMMSSZ)",
			       s ? s : "");
	return 0;
}

void util_iso8601(time_t t, char out[21])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		util_strlcpy(out, "1970-01-01T00:00:00Z", 21);
}

int util_iso8601_parse(const char *s, time_t *out)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	const char *p;
	time_t t;

	if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
	    !digits(s + 17, 2, &sec))
		goto bad;
	p = s + 19;
	/* Fractional seconds are allowed and ignored (we work in whole seconds). */
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		sign = 0;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		p++;
		if (!digits(p, 2, &oh))
			goto bad;
		p += 2;
		if (*p == ':')
			p++;
		if (!digits(p, 2, &om) || p[2] != '\0' || oh > 23 || om > 59)
			goto bad;
	} else {
		goto bad;
	}
	if (make_utc(y, mo, d, h, mi, sec, &t) < 0)
		goto bad;
	/* Local time = UTC + offset, so UTC = local - offset. */
	*out = t - (time_t)sign * (oh * 3600 + om * 60);
	return 0;
bad:
	return err_set(POE_FAIL, "invalid time '%s' (expected ISO 8601 with offset)", s ? s : "");
}

/* Leading decimal digits of s into *v with overflow check; returns the end or NULL. */
static const char *parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return NULL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return NULL;
		x = x * 10 + d;
	}
	*v = x;
	return p;
}

int util_parse_duration(const char *s, int64_t *seconds)
{
	uint64_t v, mult = 1;
	const char *p = s ? parse_u64(s, &v) : NULL;

	if (!p)
		goto bad;
	switch (*p) {
	case '\0':
		break;
	case 's':
	case 'S':
		mult = 1;
		p++;
		break;
	case 'm':
	case 'M':
		mult = 60;
		p++;
		break;
	case 'h':
	case 'H':
		mult = 3600;
		p++;
		break;
	case 'd':
	case 'D':
		mult = 86400;
		p++;
		break;
	default:
		goto bad;
	}
	if (*p != '\0' || v > (uint64_t)INT64_MAX / mult)
		goto bad;
	*seconds = (int64_t)(v * mult);
	return 0;
bad:
	return err_set(POE_FAIL, "invalid duration '%s' (expected a number with s, m, h or d)",
		       s ? s : "");
}

int util_parse_size(const char *s, uint64_t *bytes)
{
	static const char units[] = "KMGTP";
	uint64_t v, mult = 1;
	const char *p = s ? parse_u64(s, &v) : NULL;
	const char *u;

	if (!p)
		goto bad;
	if (*p && (u = strchr(units, toupper((unsigned char)*p))) != NULL) {
		for (long i = 0; i <= u - units; i++)
			mult *= 1024;
		p++;
		if (*p == 'i' || *p == 'I') {
			p++;
			if (*p != 'b' && *p != 'B')
				goto bad;
		}
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0' || v > UINT64_MAX / mult)
		goto bad;
	*bytes = v * mult;
	return 0;
bad:
	return err_set(POE_FAIL, "invalid size '%s' (expected a number with K, M, G, T or P)",
		       s ? s : "");
}

int util_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (!s || *s == '\0' || isspace((unsigned char)*s))
		goto bad;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0')
		goto bad;
	if (v < min || v > max)
		return err_set(POE_FAIL, "value '%s' is out of range (%lld to %lld)", s,
			       (long long)min, (long long)max);
	*out = v;
	return 0;
bad:
	return err_set(POE_FAIL, "invalid number '%s'", s ? s : "");
}

bool util_is_safe_name(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > 255 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

bool util_is_uuid(const char *s)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };

	for (int g = 0; g < 5; g++) {
		for (int i = 0; i < groups[g]; i++, s++)
			if (!isxdigit((unsigned char)*s))
				return false;
		if (g < 4 && *s++ != '-')
			return false;
	}
	return *s == '\0';
}

bool util_is_storage_id(const char *s, size_t n)
{
	if (n == 0 || !isalpha((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return false;
	}
	return isalnum((unsigned char)s[n - 1]);
}

bool util_is_safe_relpath(const char *s)
{
	char comp[256];
	const char *p = s;

	if (!s || *s == '\0' || strlen(s) >= PATH_MAX)
		return false;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || n >= sizeof(comp))
			return false;
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (!util_is_safe_name(comp))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

static void oom(void)
{
	static const char msg[] = "pve-ontap: error: out of memory\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing left to report with */
	}
	abort();
}

char *util_xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return s;
}

void *util_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *util_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *util_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom();
	return q;
}

char *util_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}

int util_strcpy(char *dst, const char *src, size_t n, const char *what)
{
	if (util_strlcpy(dst, src, n) < n)
		return 0;
	return err_set(POE_FAIL, "%s '%.64s...' is longer than %zu bytes", what, src,
		       n ? n - 1 : 0);
}

int util_format(char *dst, size_t n, const char *what, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(dst, n, fmt, ap);
	va_end(ap);
	if (w >= 0 && (size_t)w < n)
		return 0;
	return err_set(POE_FAIL, "%s '%.64s...' is longer than %zu bytes", what, n ? dst : "",
		       n ? n - 1 : 0);
}

size_t util_strlcpy(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);

	if (n) {
		size_t c = len < n - 1 ? len : n - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return len;
}

int util_mkdir_p(const char *path, unsigned int mode)
{
	char *p = NULL;
	struct stat st;
	int rc = 0;

	if (!path || *path == '\0')
		return err_set(POE_FAIL, "cannot create directory '': empty path");
	p = util_xstrdup(path);

	for (char *c = p + 1;; c++) {
		bool end = *c == '\0';

		if (*c != '/' && !end)
			continue;
		*c = '\0';
		if (c[-1] != '/' && mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
			rc = err_set(POE_FAIL, "cannot create directory '%s': %s", p,
				     strerror(errno));
			goto out;
		}
		if (end)
			break;
		*c = '/';
	}
	errno = 0;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		rc = err_set(POE_FAIL, "cannot create directory '%s': %s", path,
			     errno ? strerror(errno) : "not a directory");
		goto out;
	}
out:
	free(p);
	return rc;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, unsigned int mode)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? util_xasprintf("%.*s", (int)(slash - path), path) : util_xstrdup(".");
	const char *name = slash ? slash + 1 : path;
	char *tmp = NULL;
	const char *p = data;
	int fd = -1, dfd = -1;
	int rc = 0;

	if (*dir == '\0') {
		free(dir);
		dir = util_xstrdup("/");
	}
	if (!util_is_safe_name(name)) {
		rc = err_set(POE_FAIL, "cannot write '%s': invalid file name", path);
		goto out;
	}
	tmp = util_xasprintf("%s/.%s.XXXXXX", dir, name);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = err_set(POE_FAIL, "cannot create a temporary file in '%s': %s", dir,
			     strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, (mode_t)mode) < 0)
		goto fail;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	free(tmp);
	tmp = NULL;
	/* The rename is durable only once the directory entry is on disk. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		rc = err_set(POE_FAIL, "cannot sync directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	goto out;
fail:
	rc = err_set(POE_FAIL, "cannot write '%s': %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return rc;
}
