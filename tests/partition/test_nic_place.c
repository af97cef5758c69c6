/* Unit tests for placement by traffic (nic_place.c) and node types from files
 * (topo.c), on the hwloc XML topologies of tests/partition/topo: the cores
 * local to a NIC go to the stage whose links leave the node. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "partition/nic_place.h"
#include "partition/topo.h"

static const char *topo_path(const char *name)
{
	static char path[4096];   /* test-only: one path at a time */
	const char *src = getenv("DTP_SRCDIR");

	snprintf(path, sizeof(path), "%s/tests/partition/topo/%s", src ? src : "..", name);
	return path;
}

static struct dtp_topo *load(const char *name)
{
	struct dtp_topo *t = NULL;
	struct dtp_err err = { 0 };

	if (dtp_topo_load_file(topo_path(name), &t, &err))
		fail_msg("%s: %s", name, err.msg);
	return t;
}

static void place(struct dtp_topo *t, int n, const double *off, struct dtp_stage_where *w)
{
	struct dtp_err err = { 0 };
	int shared = -1;

	if (dtp_place_node(t, n, off, w, &shared, &err))
		fail_msg("dtp_place_node: %s", err.msg);
	assert_int_equal(shared, 0);
}

/* two packages of 4 cores, the NIC on the second */
static void test_two_packages_nic_on_second(void **state)
{
	struct dtp_topo *t = load("two-pkg-nic1.xml");
	struct dtp_stage_where w[2];
	const double first_crosses[2] = { 4096, 0 }, second_crosses[2] = { 0, 4096 },
		     none[2] = { 0, 0 }, one[1] = { 100 };

	(void)state;
	/* two stages per node: the one whose link leaves the node gets the NIC's
	 * package whichever stage of the node it is, a whole package each */
	place(t, 2, first_crosses, w);
	assert_string_equal(w[0].cores, "4-7");
	assert_string_equal(w[0].numa, "1");
	assert_string_equal(w[0].nic, "mlx5_0");
	assert_non_null(strstr(w[0].why, "local to mlx5_0"));
	assert_string_equal(w[1].cores, "0-3");
	assert_string_equal(w[1].numa, "0");
	assert_string_equal(w[1].nic, "");
	assert_non_null(strstr(w[1].why, "shared memory only"));
	place(t, 2, second_crosses, w);
	assert_string_equal(w[1].cores, "4-7");
	assert_string_equal(w[1].nic, "mlx5_0");
	assert_string_equal(w[0].cores, "0-3");
	/* nothing leaves the node: the plain split, in stage order */
	place(t, 2, none, w);
	assert_string_equal(w[0].cores, "0-3");
	assert_string_equal(w[1].cores, "4-7");
	/* one stage per node: all of it, and the NIC */
	place(t, 1, one, w);
	assert_string_equal(w[0].cores, "0-7");
	assert_string_equal(w[0].numa, "0-1");
	assert_string_equal(w[0].nic, "mlx5_0");
	assert_int_equal(w[0].n_cores, 8);
	dtp_topo_destroy(t);
}

/* four NUMA nodes (2 cores each), mlx5_1 on node 1 and mlx5_0 on node 2 */
static void test_four_numa_two_nics(void **state)
{
	struct dtp_topo *t = load("four-numa-two-nics.xml");
	struct dtp_stage_where w[4];
	const double a[4] = { 0, 5, 0, 9 }, b[4] = { 9, 0, 5, 0 }, three[4] = { 1, 9, 5, 0 };

	(void)state;
	/* two crossing stages: each gets a NIC's node of its own, the heavier first
	 * (equal locality: the first such node), the others the nodes left */
	place(t, 4, a, w);
	assert_string_equal(w[3].cores, "2-3");
	assert_string_equal(w[3].nic, "mlx5_1");
	assert_string_equal(w[1].cores, "4-5");
	assert_string_equal(w[1].numa, "2");
	assert_string_equal(w[1].nic, "mlx5_0");
	assert_string_equal(w[0].cores, "0-1");
	assert_string_equal(w[2].cores, "6-7");
	place(t, 4, b, w);
	assert_string_equal(w[0].cores, "2-3");
	assert_string_equal(w[0].nic, "mlx5_1");
	assert_string_equal(w[2].cores, "4-5");
	assert_string_equal(w[2].nic, "mlx5_0");
	assert_string_equal(w[1].cores, "0-1");
	assert_string_equal(w[3].cores, "6-7");
	/* three crossing stages, two NICs: the lightest gets no NIC-local cores
	 * and says so, with the nearest NIC */
	place(t, 4, three, w);
	assert_string_equal(w[1].cores, "2-3");
	assert_string_equal(w[2].cores, "4-5");
	assert_string_equal(w[0].cores, "0-1");
	assert_string_equal(w[0].nic, "mlx5_1");
	assert_non_null(strstr(w[0].why, "heavier stages"));
	assert_string_equal(w[3].cores, "6-7");
	dtp_topo_destroy(t);
}

/* eight packages of 2 cores, the NIC on package 4 (cores 8-9) */
static void test_many_packages_nic_in_middle(void **state)
{
	struct dtp_topo *t = load("eight-pkg-nic-mid.xml");
	struct dtp_stage_where w[8];
	const double last[4] = { 0, 0, 0, 7 }, first[4] = { 7, 0, 0, 0 };
	double eight[8] = { 0 };

	(void)state;
	place(t, 4, last, w);
	assert_string_equal(w[3].cores, "8-11");
	assert_string_equal(w[3].nic, "mlx5_0");
	assert_string_equal(w[0].cores, "0-3");
	assert_string_equal(w[1].cores, "4-7");
	assert_string_equal(w[2].cores, "12-15");
	place(t, 4, first, w);
	assert_string_equal(w[0].cores, "8-11");
	/* a package per stage: the crossing one gets exactly the NIC's package */
	eight[0] = 3;
	place(t, 8, eight, w);
	assert_string_equal(w[0].cores, "8-9");
	assert_string_equal(w[0].numa, "4");
	assert_string_equal(w[1].cores, "0-1");
	assert_string_equal(w[4].cores, "6-7");
	assert_string_equal(w[5].cores, "10-11");
	dtp_topo_destroy(t);
}

/* a stage never straddles a package when whole packages are there for it */
static void test_stages_keep_to_packages(void **state)
{
	struct dtp_topo *t = load("eight-pkg-nic-mid.xml");
	struct dtp_stage_where w[3];
	const double none[3] = { 0, 0, 0 };

	(void)state;
	/* 3 stages over 8 packages of 2 cores: 2, 3 and 3 whole packages (an even
	 * core split, 5-5-6, would cut packages 2 and 4 in two) */
	place(t, 3, none, w);
	assert_string_equal(w[0].cores, "0-3");
	assert_string_equal(w[1].cores, "4-9");
	assert_string_equal(w[2].cores, "10-15");
	assert_int_equal(w[1].n_cores, 6);
	dtp_topo_destroy(t);
	/* 3 stages over 2 packages of 4: one package whole, the other halved */
	t = load("two-pkg-no-nic.xml");
	place(t, 3, none, w);
	assert_string_equal(w[0].cores, "0-3");
	assert_string_equal(w[1].cores, "4-5");
	assert_string_equal(w[2].cores, "6-7");
	dtp_topo_destroy(t);
}

static void test_no_nic(void **state)
{
	struct dtp_topo *t = load("two-pkg-no-nic.xml");
	struct dtp_stage_where w[2];
	const double off[2] = { 0, 4096 };

	(void)state;
	place(t, 2, off, w);
	assert_string_equal(w[0].cores, "0-3");
	assert_string_equal(w[1].cores, "4-7");
	assert_string_equal(w[1].nic, "");
	assert_non_null(strstr(w[1].why, "no RDMA NIC"));
	dtp_topo_destroy(t);
}

/* a whole plan: bytes per link from the hosts, node types per host */
static void test_plan_hosts_and_traffic(void **state)
{
	struct dtp_topo_map m = { 0 };
	struct dtp_stage_where w[4];
	struct dtp_err err = { 0 };
	struct dtp_plan p;
	char arg[8192];
	const double link[3] = { 10, 20, 30 };
	double off[4];

	(void)state;
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nkind = mlp\nwidths = 8-8-8-8-4\n"
		"[stage.0]\nunits = 0\nhost = a\n[stage.1]\nunits = 1\nhost = a\n"
		"[stage.2]\nunits = 2\nhost = b\n[stage.3]\nunits = 3\nhost = b\n",
		"p.ini", &p, &err), 0);
	dtp_place_off_node_bytes(&p, link, off);
	assert_true(off[0] == 0 && off[1] == 20 && off[2] == 20 && off[3] == 0);
	/* host a: the NIC on package 1; host b: a 16-core node type with it on package 0 */
	snprintf(arg, sizeof(arg), "a=%s", topo_path("two-pkg-nic1.xml"));
	assert_int_equal(dtp_topo_map_add(&m, arg, &err), 0);
	snprintf(arg, sizeof(arg), "b=%s", topo_path("two-pkg16-nic0.xml"));
	assert_int_equal(dtp_topo_map_add(&m, arg, &err), 0);
	assert_int_equal(m.n_hosts, 2);
	assert_int_equal(dtp_place_plan(&m, &p, link, w, &err), 0);
	assert_string_equal(w[1].cores, "4-7");
	assert_string_equal(w[1].nic, "mlx5_0");
	assert_string_equal(w[0].cores, "0-3");
	assert_string_equal(w[2].cores, "0-7");
	assert_string_equal(w[2].nic, "mlx5_0");
	assert_int_equal(w[2].n_cores, 8);
	assert_string_equal(w[3].cores, "8-15");
	/* a host given twice, a file that is not a topology: errors that say so */
	snprintf(arg, sizeof(arg), "a=%s", topo_path("two-pkg-nic1.xml"));
	assert_int_equal(dtp_topo_map_add(&m, arg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "host a is given twice"));
	assert_int_equal(dtp_topo_map_add(&m, "c=", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "HOST=FILE.xml"));
	assert_true(dtp_topo_map_add(&m, topo_path("make-topo.py"), &err) < 0);
	assert_non_null(strstr(err.msg, "lstopo --of xml"));
	dtp_topo_map_free(&m);
}

/* with replicas, each stage's all-reduce leaves the node: the stage with the
 * most gradient bytes gets the NIC's cores, though no pipeline link leaves */
static void test_allreduce_weight(void **state)
{
	static const char *const topos[] = { "two-pkg-nic1.xml", "four-numa-two-nics.xml",
					     "eight-pkg-nic-mid.xml", "two-pkg-no-nic.xml" };
	struct dtp_err err = { 0 };
	struct dtp_plan p;
	struct dtp_stage_where w[2], plain[2];
	double link[1], off[2];

	(void)state;
	/* units: 8x1024 (9216 floats), 1024x1024 (~1M), 1024x8 (8200): stage 0
	 * holds the heavy layer, stage 1 sends the same activations */
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nkind = mlp\nwidths = 8-1024-1024-8\n[train]\nmicro_batch = 2\n"
		"micro_batches = 2\n[parallel]\nreplicas = 4\n"
		"[stage.0]\nunits = 0-1\n[stage.1]\nunits = 2\n", "r.ini", &p, &err), 0);
	assert_int_equal(dtp_plan_link_bytes(&p, link, &err), 0);
	dtp_place_off_node_bytes(&p, link, off);
	/* 2 (R-1)/R x float32 gradients, both stages on one host */
	assert_true(off[0] == 1.5 * 4 * (8.0 * 1024 + 1024 + 1024.0 * 1024 + 1024));
	assert_true(off[1] == 1.5 * 4 * (1024.0 * 8 + 8));
	for (size_t i = 0; i < sizeof(topos) / sizeof(topos[0]); i++) {
		struct dtp_topo_map m = { 0 };

		assert_int_equal(dtp_topo_map_add(&m, topo_path(topos[i]), &err), 0);
		assert_int_equal(dtp_place_plan(&m, &p, link, w, &err), 0);
		if (i == 0) {
			/* the NIC's package goes to stage 0, the heavier all-reduce */
			assert_string_equal(w[0].cores, "4-7");
			assert_string_equal(w[0].nic, "mlx5_0");
			assert_string_equal(w[1].cores, "0-3");
			assert_non_null(strstr(w[1].why, "the NIC-local cores went to heavier"));
		}
		if (i < 3)
			assert_true(w[0].nic[0] != '\0');
		/* one replica: nothing leaves the node, the plain split in stage order */
		p.replicas = 1;
		assert_int_equal(dtp_place_plan(&m, &p, link, plain, &err), 0);
		p.replicas = 4;
		if (i == 0) {
			assert_string_equal(plain[0].cores, "0-3");
			assert_non_null(strstr(plain[0].why, "shared memory only"));
		}
		dtp_topo_map_free(&m);
	}
}

/* at run time (a plan that gives no cores): dtpipe places by the same rule */
static void test_run_time_placement(void **state)
{
	struct dtp_topo *t = load("two-pkg-nic1.xml");
	struct dtp_err err = { 0 };
	struct dtp_plan p;
	char cores[DTP_CPULIST_MAX], nic[DTP_NIC_MAX];
	double link[2];
	int shared = -1;

	(void)state;
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nkind = mlp\nwidths = 8-16-32-4\n[train]\nmicro_batch = 2\n"
		"micro_batches = 3\n[stage.0]\nunits = 0\n[stage.1]\nunits = 1\n"
		"[stage.2]\nunits = 2\nhost = far\n", "p.ini", &p, &err), 0);
	/* link 1 carries unit 1's 32 floats x 2 samples, forward and back, x 3 */
	assert_int_equal(dtp_plan_link_bytes(&p, link, &err), 0);
	assert_true(link[0] == 2.0 * 16 * 4 * 2 * 3 && link[1] == 2.0 * 32 * 4 * 2 * 3);
	/* stage 1 talks to the other host: the NIC's package, though it is second */
	assert_int_equal(dtp_place_stage(t, &p, 1, cores, nic, &shared, &err), 0);
	assert_string_equal(cores, "4-7");
	assert_string_equal(nic, "mlx5_0");
	assert_int_equal(dtp_place_stage(t, &p, 0, cores, nic, &shared, &err), 0);
	assert_string_equal(cores, "0-3");
	dtp_topo_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_packages_nic_on_second),
		cmocka_unit_test(test_four_numa_two_nics),
		cmocka_unit_test(test_many_packages_nic_in_middle),
		cmocka_unit_test(test_stages_keep_to_packages),
		cmocka_unit_test(test_no_nic),
		cmocka_unit_test(test_plan_hosts_and_traffic),
		cmocka_unit_test(test_run_time_placement),
		cmocka_unit_test(test_allreduce_weight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
