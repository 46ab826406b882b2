/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "did you mean": the nearest of a set of names to a mistyped one, as git's help.c
 * (help_unknown_cmd) finds it: a name the typed word is a prefix of is nearest (0);
 * otherwise the weighted Damerau-Levenshtein distance of git's levenshtein.c with
 * git's weights (swap 0, substitution 2, insertion 1, deletion 3) plus 1, and only
 * names closer than git's SIMILARITY_FLOOR (7) are suggested, every one of the best.
 * One difference: where git names all ties, the plain (unit cost) distance breaks them,
 * so 'vmm' suggests 'vm' (one deletion) and not also 'nvme' (an insertion and a
 * substitution, as cheap as one deletion with git's weights).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define SIMILARITY_FLOOR 7

struct weights {
	size_t swap, subst, insert, del;
};

/*
 * Cost of turning a into b (optimal string alignment: an adjacent transposition counts
 * once). Three rows of len(b)+1 cells; no cap on the lengths.
 */
static size_t distance(const char *a, const char *b, const struct weights *w)
{
	const size_t SWAP = w->swap, SUBST = w->subst, INSERT = w->insert, DELETE = w->del;
	size_t la = strlen(a), lb = strlen(b), d;
	size_t *r0 = util_xcalloc(lb + 1, sizeof(size_t));
	size_t *r1 = util_xcalloc(lb + 1, sizeof(size_t));
	size_t *r2 = util_xcalloc(lb + 1, sizeof(size_t));

	for (size_t j = 0; j <= lb; j++)
		r1[j] = j * INSERT;
	for (size_t i = 0; i < la; i++) {
		size_t *t;

		r2[0] = (i + 1) * DELETE;
		for (size_t j = 0; j < lb; j++) {
			size_t best = r1[j] + (a[i] != b[j]) * SUBST;

			if (i > 0 && j > 0 && a[i - 1] == b[j] && a[i] == b[j - 1] &&
			    r0[j - 1] + SWAP < best)
				best = r0[j - 1] + SWAP;
			if (r1[j + 1] + DELETE < best)
				best = r1[j + 1] + DELETE;
			if (r2[j] + INSERT < best)
				best = r2[j] + INSERT;
			r2[j + 1] = best;
		}
		t = r0;
		r0 = r1;
		r1 = r2;
		r2 = t;
	}
	d = r1[lb];
	free(r0);
	free(r1);
	free(r2);
	return d;
}

size_t cli_edit_distance(const char *a, const char *b)
{
	static const struct weights git = { 0, 2, 1, 3 };

	return distance(a, b, &git);
}

#define TIE_SCALE 1000

/* git's similarity (0 for a prefix), times TIE_SCALE, plus the unit-cost distance. */
static size_t similarity(const char *typed, const char *name)
{
	static const struct weights unit = { 1, 1, 1, 1 };

	if (!strncmp(name, typed, strlen(typed)))
		return 0;
	return (cli_edit_distance(typed, name) + 1) * TIE_SCALE + distance(typed, name, &unit);
}

int cli_suggest(const char *typed, const char *const *names, size_t n, const char *prefix,
		char *out, size_t outsz)
{
	size_t best = SIZE_MAX, count = 0, len = 0;

	out[0] = '\0';
	if (!*typed)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t s = similarity(typed, names[i]);

		if (s < best) {
			best = s;
			count = 0;
		}
		if (s == best)
			count++;
	}
	if (best / TIE_SCALE >= SIMILARITY_FLOOR)
		return 0;
	for (size_t i = 0, k = 0; i < n; i++) {
		int w;

		if (similarity(typed, names[i]) != best)
			continue;
		w = snprintf(out + len, outsz - len, "%s'%s%s'",
			     k == 0 ? (count > 1 ? "; did you mean one of " : "; did you mean ") :
				      (k + 1 == count ? " or " : ", "),
			     prefix, names[i]);
		if (w < 0 || (size_t)w >= outsz - len) {
			out[0] = '\0';
			return 0;
		}
		len += (size_t)w;
		k++;
	}
	return (int)count;
}
