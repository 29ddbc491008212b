/*
 * catalog_names.c - the naming rules of catalog_names.h, once for every
 * catalogue implementation, and catalog_identity_want (catalog.h), which
 * is those rules applied to a whole record.
 *
 * Invariant: a name computed here is byte for byte the name a store
 * already holds for the same values; changing one renames files in
 * existing stores and makes verify report every row that has the old.
 */
#include "catalog_names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "hash.h"

char *names_patient_key(const struct dcm_info *d)
{
	if (d->patient_id[0])
		return strdup(d->patient_id);
	size_t n = strlen(d->patient_name) + strlen(d->patient_birth_date) + 16;
	char *k = malloc(n);
	if (k)
		snprintf(k, n, "\x01noid\x01|%s\x01|%s", d->patient_name, d->patient_birth_date);
	return k;
}

int names_noid_hash(const char *key, const char *issuer, uint32_t *h)
{
	size_t kl = strlen(key), il = strlen(issuer);
	char *full = malloc(kl + il + 3);
	if (!full)
		return -ENOMEM;
	snprintf(full, kl + il + 3, "%s\x01|%s", key, issuer);
	*h = (uint32_t)checksum64(full, strlen(full));
	free(full);
	return 0;
}

int names_patient_dir(const struct dcm_info *d, const char *key,
		      char out[NAME_COMPONENT_MAX + 1], int *noid)
{
	*noid = !d->patient_id[0];
	if (d->patient_id[0]) {
		size_t a = strlen(d->patient_id), b = strlen(d->issuer_of_patient_id);
		char *esc = malloc(3 * (a + b) + 8);
		if (!esc)
			return -ENOMEM;
		size_t n = name_escape(d->patient_id, esc);
		uint64_t h = checksum64(d->patient_id, a);
		if (b) {
			/* '@' is always escaped, so it cannot occur in an ID. */
			esc[n++] = '@';
			name_escape(d->issuer_of_patient_id, esc + n);
			/* hashed: ID, NUL, issuer, NUL */
			char *both = malloc(a + b + 2);
			if (!both) {
				free(esc);
				return -ENOMEM;
			}
			memcpy(both, d->patient_id, a);
			both[a] = '\0';
			memcpy(both + a + 1, d->issuer_of_patient_id, b + 1);
			h = checksum64(both, a + b + 2);
			free(both);
		}
		name_fit(esc, h, "", out);
		free(esc);
		return 0;
	}
	uint32_t h;
	if (names_noid_hash(key, d->issuer_of_patient_id, &h))
		return -ENOMEM;
	snprintf(out, NAME_COMPONENT_MAX + 1, "%%noid-%08x", h);
	return 0;
}

void names_folder_dir(const char *uid, char out[NAME_COMPONENT_MAX + 1])
{
	name_component(uid, "", out);
}

void names_version_suffix(uint32_t version, char out[32])
{
	snprintf(out, 32, ".v%u.dcm", version);
}

void names_instance(const char *sop_uid, uint32_t version,
		    char fname[NAME_COMPONENT_MAX + 1], char vname[NAME_COMPONENT_MAX + 1])
{
	char suffix[32];
	names_version_suffix(version, suffix);
	name_component(sop_uid, ".dcm", fname);
	name_component(sop_uid, suffix, vname);
}

int names_kept(const char *name, const char *sop_uid, const char *suffix)
{
	size_t n = strlen(sop_uid);
	return strncmp(name, sop_uid, n) || strcmp(name + n, suffix);
}

int names_plain_sop(const char *name, int versioned, char *sop, size_t len, uint32_t *version)
{
	size_t n = strlen(name);
	if (n < 5 || strcmp(name + n - 4, ".dcm"))
		return 0;
	n -= 4;
	if (versioned) {
		size_t d = n;
		while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9')
			d--;
		if (d == n || n - d > 9 || d < 3 || name[d - 1] != 'v' || name[d - 2] != '.')
			return 0;
		*version = (uint32_t)strtoul(name + d, NULL, 10);
		n = d - 2;
	}
	if (n == 0 || n >= len || name[0] == '.')
		return 0;
	/* i < n <= strlen(name): name[i] is never the NUL strchr would find */
	for (size_t i = 0; i < n; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_+=,", name[i]))
			return 0;
	memcpy(sop, name, n);
	sop[n] = '\0';
	return 1;
}

int catalog_identity_want(const struct instance_record *r, struct cat_identity *out)
{
	const struct dcm_info *d = &r->info;
	memset(out, 0, sizeof(*out));
	char *key = names_patient_key(d);
	if (!key)
		return -ENOMEM;
	snprintf(out->patient_key, sizeof(out->patient_key), "%s", key);
	/* A %noid name may carry a -N added for a clash: the stem only. */
	int rc = names_patient_dir(d, key, out->patient_dir, &out->noid);
	free(key);
	snprintf(out->issuer, sizeof(out->issuer), "%s", d->issuer_of_patient_id);
	snprintf(out->study_uid, sizeof(out->study_uid), "%s", d->study_uid);
	names_folder_dir(d->study_uid, out->study_dir);
	snprintf(out->series_uid, sizeof(out->series_uid), "%s", d->series_uid);
	names_folder_dir(d->series_uid, out->series_dir);
	snprintf(out->sop_uid, sizeof(out->sop_uid), "%s", d->sop_instance_uid);
	out->version = r->version;
	names_instance(d->sop_instance_uid, r->version, out->fname, out->vname);
	snprintf(out->unclean, sizeof(out->unclean), "%s", d->unclean);
	return rc;
}
