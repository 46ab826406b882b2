/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The volume cache: which ONTAP volume backs a storage's export (or configured volume
 * name), kept in <paths.state>/volumes.json so that a VM snapshot needs no volume look-up
 * (issue 18). It is only a hint: a file that is not ours (owner, mode, marker) or does not
 * parse is ignored, every entry is checked before use, and a not-found answer for a cached
 * volume drops its entry (ops_vm.c retries once with a fresh look-up).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "config/config.h"
#include "format/json.h"
#include "ontap/ontap.h"
#include "ops/ops_internal.h"

#define VOLCACHE_FILE "volumes.json"
#define VOLCACHE_MARKER "pve-ontap-volume-cache"
#define VOLCACHE_MAX (1024 * 1024)

static char *cache_path(const struct config *cfg)
{
	if (!cfg->paths.state || !cfg->paths.state[0])
		return NULL;
	return util_xasprintf("%s/" VOLCACHE_FILE, cfg->paths.state);
}

/* The file's text when it is a regular file of ours that only we can write, else NULL. */
static int read_ours(const char *path, struct buf *b)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return POE_NOTFOUND;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		log_debug("volume cache '%s' ignored: not a regular file of ours, or writable by others",
			  path);
		return POE_FAIL;
	}
	return buf_read_file(b, path);
}

/* An entry's fields as strings; false when one is missing, too long or malformed. */
static bool entry_read(const struct json_doc *d, int e, char fields[][256], int n)
{
	static const char *const names[] = { "cluster", "svm", "key", "uuid", "name", "svm_name",
					      "nas_path" };

	for (int i = 0; i < n; i++)
		if (json_get_str(d, e, names[i], fields[i], 256) < 0)
			return false;
	return util_is_uuid(fields[3]) && util_is_safe_name(fields[4]) &&
	       (!fields[6][0] || (fields[6][0] == '/' &&
				  (!fields[6][1] || util_is_safe_relpath(fields[6] + 1))));
}

/* The entries array of a parsed cache file, or -1 when the file is not one. */
static int entries_of(const struct json_doc *d)
{
	int64_t version = 0;
	int arr = json_get(d, 0, "entries");

	if (json_type(d, 0) != JSON_OBJECT || json_get_int(d, 0, VOLCACHE_MARKER, &version) < 0 ||
	    version != 1 || json_type(d, arr) != JSON_ARRAY)
		return -1;
	return arr;
}

static int load(const struct config *cfg, struct json_doc *d)
{
	char *path = cache_path(cfg);
	struct buf b;
	int rc;

	memset(d, 0, sizeof(*d));
	if (!path)
		return POE_NOTFOUND;
	buf_init(&b, VOLCACHE_MAX);
	rc = read_ours(path, &b);
	if (rc == 0)
		rc = json_parse(d, b.data, b.len, JSON_MAX_TOKENS_DEFAULT);
	if (rc == 0 && entries_of(d) < 0) {
		log_debug("volume cache '%s' ignored: not a volume cache file", path);
		json_free(d);
		rc = POE_FAIL;
	}
	buf_release(&b);
	free(path);
	return rc;
}

/*
 * *out from an entry's fields (entry_read()); POE_FAIL when one does not fit its field of
 * struct ontap_volume: a cut name would be a different volume (STYLE #5).
 */
static int entry_to_volume(char f[][256], struct ontap_volume *out)
{
	memset(out, 0, sizeof(*out));
	out->snapshot_reserve = -1;
	if (util_strcpy(out->uuid, f[3], sizeof(out->uuid), "cached volume uuid") < 0 ||
	    util_strcpy(out->name, f[4], sizeof(out->name), "cached volume name") < 0 ||
	    util_strcpy(out->svm, f[5], sizeof(out->svm), "cached SVM name") < 0 ||
	    util_strcpy(out->nas_path, f[6], sizeof(out->nas_path), "cached junction path") < 0)
		return POE_FAIL;
	return 0;
}

int ops_volcache_get(const struct config *cfg, const struct volcache_key *k,
		     struct ontap_volume *out)
{
	struct err_saved saved;
	struct json_doc d;
	int rc = POE_NOTFOUND;

	err_save(&saved); /* a cache that cannot be read is a miss, not an error */
	if (load(cfg, &d) < 0) {
		err_restore(&saved);
		return POE_NOTFOUND;
	}
	json_for_each(&d, entries_of(&d), e) {
		char f[7][256];

		if (!entry_read(&d, e, f, 7) || strcmp(f[0], k->cluster) || strcmp(f[1], k->svm) ||
		    strcmp(f[2], k->key))
			continue;
		rc = entry_to_volume(f, out);
		if (rc < 0)
			break;
	}
	json_free(&d);
	if (rc == POE_FAIL)
		return rc; /* the caller logs why and looks the volume up */
	err_restore(&saved);
	return rc;
}

static void write_entry(struct json_writer *w, char f[][256])
{
	static const char *const names[] = { "cluster", "svm", "key", "uuid", "name", "svm_name",
					      "nas_path" };

	jw_object_begin(w, NULL);
	for (int i = 0; i < 7; i++)
		jw_string(w, names[i], f[i]);
	jw_object_end(w);
}

/* v's entry under k; POE_FAIL when a field does not fit: a cut key would never match. */
static int entry_of(const struct volcache_key *k, const struct ontap_volume *v, char f[][256])
{
	static const char *const what[] = { "volume cache cluster", "volume cache SVM",
					     "volume cache key", "volume uuid", "volume name",
					     "SVM name", "junction path" };
	const char *s[7] = { k->cluster, k->svm, k->key, v->uuid, v->name, v->svm, v->nas_path };

	for (int i = 0; i < 7; i++)
		if (util_strcpy(f[i], s[i], 256, what[i]) < 0)
			return POE_FAIL;
	return 0;
}

/*
 * Rewrite the file without k's entry, plus v's when v is not NULL: temp file, fsync,
 * rename (util_write_file_atomic), mode 0644. Concurrent writers: the last one wins, and
 * what it loses is looked up again. Failures only cost a look-up: logged, not returned.
 */
static void store(const struct config *cfg, const struct volcache_key *k,
		  const struct ontap_volume *v)
{
	char *path = cache_path(cfg);
	char (*f)[256] = util_xcalloc(7, 256);
	struct err_saved saved;
	struct json_writer w;
	struct json_doc d;
	struct buf b;

	err_save(&saved);
	if (!path)
		goto out;
	buf_init(&b, VOLCACHE_MAX);
	jw_init(&w, &b, 1);
	jw_object_begin(&w, NULL);
	jw_int(&w, VOLCACHE_MARKER, 1);
	jw_array_begin(&w, "entries");
	if (load(cfg, &d) == 0) {
		json_for_each(&d, entries_of(&d), e) {
			if (entry_read(&d, e, f, 7) && (strcmp(f[0], k->cluster) ||
							strcmp(f[1], k->svm) || strcmp(f[2], k->key)))
				write_entry(&w, f);
		}
		json_free(&d);
	}
	if (v && entry_of(k, v, f) < 0)
		log_debug("volume cache: %s: the old entry is dropped, none stored", err_msg());
	else if (v)
		write_entry(&w, f);
	jw_array_end(&w);
	jw_object_end(&w);
	if (jw_finish(&w) < 0 || buf_putc(&b, '\n') < 0 ||
	    util_mkdir_p(cfg->paths.state, 0755) < 0 ||
	    util_write_file_atomic(path, b.data, b.len, 0644) < 0)
		log_debug("volume cache '%s' not written: %s", path, err_msg());
	buf_release(&b);
out:
	err_restore(&saved);
	free(f);
	free(path);
}

void ops_volcache_put(const struct config *cfg, const struct volcache_key *k,
		      const struct ontap_volume *v)
{
	store(cfg, k, v);
}

void ops_volcache_drop(const struct config *cfg, const struct volcache_key *k)
{
	store(cfg, k, NULL);
}
