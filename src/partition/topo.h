/* Node types for planning: hwloc 2 XML files (lstopo --of xml, run on the
 * compute node) given to dtpipe-partition --topology, either one for every
 * host ("node.xml") or one per host ("a=big.xml,b=small.xml"). A host that no
 * entry names uses the unnamed entry, or this machine when there is none. */
#ifndef DTP_PARTITION_TOPO_H
#define DTP_PARTITION_TOPO_H

#include "base/base.h"
#include "partition/place.h"

#define DTP_TOPO_FILES_MAX DTP_MAX_STAGES

/* Load an hwloc 2 XML file. It describes another machine: binding to it fails
 * (hwloc is not told it is this system), only its layout is used. */
int dtp_topo_load_file(const char *path, struct dtp_topo **out, struct dtp_err *err);

struct dtp_topo_map {
	int n;                                  /* entries */
	int n_hosts;                            /* entries that name a host */
	const char *host[DTP_TOPO_FILES_MAX];   /* NULL: the entry for every other host */
	const char *path[DTP_TOPO_FILES_MAX];
	struct dtp_topo *topo[DTP_TOPO_FILES_MAX];
	struct dtp_topo *here;                  /* this machine, loaded on first use */
	int n_text;
	char *text[DTP_TOPO_FILES_MAX];         /* own the strings above, one per call */
};

/* Parse "FILE" or "HOST=FILE,HOST=FILE,..." (may be called again to add
 * entries) and load each file. Errors name the entry and what to write. */
int dtp_topo_map_add(struct dtp_topo_map *m, const char *arg, struct dtp_err *err);
/* The topology for host ("" = unnamed): its entry, the unnamed entry, or this
 * machine. NULL with err set if this machine cannot be loaded. `from` (may be
 * NULL) receives the file's path or "this machine". */
struct dtp_topo *dtp_topo_map_get(struct dtp_topo_map *m, const char *host, const char **from,
				  struct dtp_err *err);
void dtp_topo_map_free(struct dtp_topo_map *m);
/* One line for people: packages, NUMA nodes, cores, PUs and each OpenFabrics
 * NIC with the PUs local to it ("... NICs: none" without one). */
void dtp_topo_describe(struct dtp_topo *t, char *buf, size_t len);

#endif
