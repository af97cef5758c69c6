/* Node types from hwloc XML files, one per host or one for all. */
#include "config.h"
#include "partition/topo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "partition/place_int.h"

int dtp_topo_load_file(const char *path, struct dtp_topo **out, struct dtp_err *err)
{
	return dtp_topo_load_from(NULL, path, out, err);
}

int dtp_topo_map_add(struct dtp_topo_map *m, const char *arg, struct dtp_err *err)
{
	char *text, *save = NULL, *entry;
	int r = 0;

	if (!arg[0])
		return dtp_errf_input(err, -EINVAL, "--topology '': give FILE.xml or HOST=FILE.xml,...");
	if (m->n_text == DTP_TOPO_FILES_MAX)
		return dtp_errf_input(err, -EINVAL, "--topology given more than %d times",
				      DTP_TOPO_FILES_MAX);
	text = strdup(arg);
	if (!text)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	m->text[m->n_text++] = text;
	for (entry = strtok_r(text, ",", &save); entry && !r; entry = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(entry, '=');
		const char *host = NULL, *path = entry;

		if (m->n == DTP_TOPO_FILES_MAX)
			return dtp_errf_input(err, -EINVAL, "--topology: more than %d files",
					      DTP_TOPO_FILES_MAX);
		if (eq) {
			*eq = '\0';
			host = entry;
			path = eq + 1;
			if (!host[0] || !path[0])
				return dtp_errf_input(err, -EINVAL, "--topology '%s': write HOST=FILE.xml "
						      "with both parts", arg);
		}
		for (int i = 0; i < m->n; i++)
			if (host ? m->host[i] && strcmp(host, m->host[i]) == 0 : !m->host[i])
				return dtp_errf_input(err, -EINVAL, "--topology: %s%s is given twice: give "
						      "one file per host", host ? "host " : "the file for "
						      "every host", host ? host : "");
		r = dtp_topo_load_file(path, &m->topo[m->n], err);
		if (r) {
			dtp_err_prefix(err, "--topology: ");
			return r;
		}
		m->host[m->n] = host;
		m->path[m->n] = path;
		m->n_hosts += host != NULL;
		m->n++;
	}
	return r;
}

struct dtp_topo *dtp_topo_map_get(struct dtp_topo_map *m, const char *host, const char **from,
				  struct dtp_err *err)
{
	int any = -1;

	for (int i = 0; i < m->n; i++) {
		if (!m->host[i])
			any = i;
		else if (strcmp(m->host[i], host) == 0)
			return from ? *from = m->path[i], m->topo[i] : m->topo[i];
	}
	if (any >= 0) {
		if (from)
			*from = m->path[any];
		return m->topo[any];
	}
	if (!m->here && dtp_topo_load(NULL, &m->here, err))
		return NULL;
	if (from)
		*from = "this machine";
	return m->here;
}

void dtp_topo_map_free(struct dtp_topo_map *m)
{
	for (int i = 0; i < m->n; i++)
		dtp_topo_destroy(m->topo[i]);
	for (int i = 0; i < m->n_text; i++)
		free(m->text[i]);
	dtp_topo_destroy(m->here);
	memset(m, 0, sizeof(*m));
}

void dtp_topo_describe(struct dtp_topo *t, char *buf, size_t len)
{
	hwloc_topology_t h = t->topo;
	hwloc_obj_t dev = NULL;
	size_t n;

	n = (size_t)snprintf(buf, len, "%d package%s, %d NUMA node%s, %d cores, %d PUs; NICs:",
			     hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PACKAGE),
			     hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PACKAGE) == 1 ? "" : "s",
			     hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_NUMANODE),
			     hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_NUMANODE) == 1 ? "" : "s",
			     dtp_topo_num_cores(t), hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PU));
	while ((dev = hwloc_get_next_osdev(h, dev)) && n < len) {
		hwloc_obj_t anc;
		char cpus[64];

		if (dev->attr->osdev.type != HWLOC_OBJ_OSDEV_OPENFABRICS || !dev->name)
			continue;
		anc = hwloc_get_non_io_ancestor_obj(h, dev);
		hwloc_bitmap_list_snprintf(cpus, sizeof(cpus), anc->cpuset);
		n += (size_t)snprintf(buf + n, len - n, " %s (PUs %s)", dev->name, cpus);
		buf[len - 1] = '\0';
	}
	if (!strstr(buf, "(PUs"))
		snprintf(buf + strlen(buf), len - strlen(buf), " none");
}
