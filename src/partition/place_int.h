/* Internal to src/partition: the hwloc topology behind struct dtp_topo, shared
 * by place.c (splits, binding), topo.c (loading files) and nic_place.c
 * (placement by traffic). Not included from outside the module. */
#ifndef DTP_PARTITION_PLACE_INT_H
#define DTP_PARTITION_PLACE_INT_H

#include <hwloc.h>

#include "partition/place.h"

struct dtp_topo {
	hwloc_topology_t topo;
};

/* Cores (or PUs where hwloc found no cores): the unit dtp_place_split counts. */
hwloc_obj_type_t dtp_topo_core_type(const struct dtp_topo *t);

/* dtp_topo_load from XML text (xml), an XML file (path), or this machine
 * (both NULL); errors name the file. */
int dtp_topo_load_from(const char *xml, const char *path, struct dtp_topo **out,
		       struct dtp_err *err);

/* 1 when two plan hosts are the same ("", "localhost" and 127.x are one). */
int dtp_place_same_host(const char *a, const char *b);

#endif
