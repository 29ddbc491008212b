/*
 * storeconf.c - reading and writing STORE/store.conf (format: storeconf.h).
 */
#include "storeconf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int valid_id(const char *id)
{
	if (strlen(id) != STORE_ID_HEX)
		return 0;
	for (const char *p = id; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return 0;
	return 1;
}

int store_conf_catalog_url_ok(const char *url)
{
	return !strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11);
}

int store_conf_read(const char *dir, struct store_conf *c, char *err, size_t errlen)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/" STORE_CONF_FILE, dir);
	memset(c, 0, sizeof(*c));
	FILE *fp = fopen(path, "re");
	if (!fp) {
		int e = errno;
		if (e != ENOENT)
			snprintf(err, errlen, "cannot read '%s': %s", path, strerror(e));
		return -e;
	}
	char line[4096];
	int lineno = 0, r = 0;
	while (!r && fgets(line, sizeof(line), fp)) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s line %d: not 'key = value': %s", path, lineno, s);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		char *key = trim(s), *value = trim(eq + 1);
		if (!strcmp(key, "format")) {
			char *end;
			long v = strtol(value, &end, 10);
			if (*end || v < 1) {
				snprintf(err, errlen, "%s line %d: format '%s' is not a version number", path, lineno, value);
				r = -EINVAL;
			} else if (v > STORE_CONF_FORMAT) {
				snprintf(err, errlen, "%s has format %ld, newer than this dcmfs knows (%d): upgrade dcmfs",
					 path, v, STORE_CONF_FORMAT);
				r = -EINVAL;
			}
			c->format = (int)v;
		} else if (!strcmp(key, "store_id")) {
			if (!valid_id(value)) {
				snprintf(err, errlen, "%s line %d: store_id '%s' is not %d hex digits",
					 path, lineno, value, STORE_ID_HEX);
				r = -EINVAL;
			} else {
				snprintf(c->store_id, sizeof(c->store_id), "%s", value);
			}
		} else if (!strcmp(key, "data")) {
			if (strlen(value) >= sizeof(c->data) || strncmp(value, "rados://", 8)) {
				snprintf(err, errlen, "%s line %d: data '%s' is not a rados:// url", path, lineno, value);
				r = -EINVAL;
			} else {
				snprintf(c->data, sizeof(c->data), "%s", value);
			}
		} else if (!strcmp(key, "catalog")) {
			if (strlen(value) >= sizeof(c->catalog) || !store_conf_catalog_url_ok(value)) {
				snprintf(err, errlen, "%s line %d: catalog '%s' is not a postgresql:// url",
					 path, lineno, value);
				r = -EINVAL;
			} else {
				snprintf(c->catalog, sizeof(c->catalog), "%s", value);
			}
		} else {
			snprintf(err, errlen, "%s line %d: unknown key '%s' (a newer dcmfs's setting?)",
				 path, lineno, key);
			r = -EINVAL;
		}
	}
	fclose(fp);
	if (!r && !c->format) {
		snprintf(err, errlen, "%s has no 'format = N' line", path);
		r = -EINVAL;
	}
	if (!r && (c->data[0] || c->catalog[0]) && !c->store_id[0]) {
		snprintf(err, errlen, "%s names %s but no store_id", path, c->data[0] ? "data" : "a catalog");
		r = -EINVAL;
	}
	return r;
}

int store_conf_write(const char *dir, const struct store_conf *c, char *err, size_t errlen)
{
	char path[4200], tmp[4300];
	snprintf(path, sizeof(path), "%s/" STORE_CONF_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	FILE *fp = fopen(tmp, "wxe");
	if (!fp) {
		int e = errno;
		snprintf(err, errlen, "cannot create '%s': %s", tmp, strerror(e));
		return -e;
	}
	fprintf(fp, "# dcmfs store configuration (FORMAT.md, \"store.conf\")\n"
		"format = %d\nstore_id = %s\n", STORE_CONF_FORMAT, c->store_id);
	if (c->data[0])
		fprintf(fp, "data = %s\n", c->data);
	if (c->catalog[0])
		fprintf(fp, "catalog = %s\n", c->catalog);
	int r = fflush(fp) || fsync(fileno(fp)) ? -errno : 0;
	if (fclose(fp) && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r) {
		unlink(tmp);
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(-r));
		return r;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int store_conf_new_id(char id[STORE_ID_HEX + 1])
{
	unsigned char b[STORE_ID_HEX / 2];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -errno;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(id + 2 * i, 3, "%02x", b[i]);
	return 0;
}
