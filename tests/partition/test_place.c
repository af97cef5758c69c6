/* Unit tests for placement: core splits, the nearest OpenFabrics NIC on XML
 * topologies with PCI devices, per-stage placement from a plan, and a real
 * process binding on this machine. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "partition/place.h"

/* cpuset/nodeset attributes of an object */
#define SETS(cpu, node) "cpuset=\"" cpu "\" complete_cpuset=\"" cpu "\" nodeset=\"" node \
	"\" complete_nodeset=\"" node "\""
#define CORE(i, mask, node, gp, gpu) \
	"<object type=\"Core\" os_index=\"" i "\" " SETS(mask, node) " gp_index=\"" gp "\">" \
	"<object type=\"PU\" os_index=\"" i "\" " SETS(mask, node) " gp_index=\"" gpu "\"/>" \
	"</object>"
/* host bridge -> PCI device (InfiniBand controller) -> OS devices */
#define NIC(bus, gpb, gpp, osdevs) \
	"<object type=\"Bridge\" gp_index=\"" gpb "\" bridge_type=\"0-1\" depth=\"0\" " \
	"bridge_pci=\"0000:[" bus "-" bus "]\">" \
	"<object type=\"PCIDev\" gp_index=\"" gpp "\" pci_busid=\"0000:" bus ":00.0\" " \
	"pci_type=\"0207 [15b3:101b] [15b3:0007] 00\" pci_link_speed=\"0.000000\">" \
	osdevs "</object></object>"
#define OSDEV(name, type, gp) \
	"<object type=\"OSDev\" gp_index=\"" gp "\" name=\"" name "\" osdev_type=\"" type "\"/>"
#define NUMA(i, mask, node, gp) \
	"<object type=\"NUMANode\" os_index=\"" i "\" " SETS(mask, node) " gp_index=\"" gp \
	"\" local_memory=\"1073741824\"><page_type size=\"4096\" count=\"0\"/></object>"
#define TOPO(pkg0_io, pkg1_io) \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n" \
	"<topology version=\"2.0\">" \
	"<object type=\"Machine\" os_index=\"0\" " SETS("0x0000000f", "0x00000003") \
	" allowed_cpuset=\"0x0000000f\" allowed_nodeset=\"0x00000003\" gp_index=\"1\">" \
	"<object type=\"Package\" os_index=\"0\" " SETS("0x00000003", "0x00000001") " gp_index=\"6\">" \
	NUMA("0", "0x00000003", "0x00000001", "7") \
	CORE("0", "0x00000001", "0x00000001", "3", "2") \
	CORE("1", "0x00000002", "0x00000001", "5", "4") \
	pkg0_io "</object>" \
	"<object type=\"Package\" os_index=\"1\" " SETS("0x0000000c", "0x00000002") " gp_index=\"12\">" \
	NUMA("1", "0x0000000c", "0x00000002", "13") \
	CORE("2", "0x00000004", "0x00000002", "9", "8") \
	CORE("3", "0x00000008", "0x00000002", "11", "10") \
	pkg1_io "</object></object></topology>\n"

/* mlx5_0 near package 0, mlx5_1 near package 1; package 1 also has a plain
 * network interface listed first, which must not count as an OpenFabrics NIC */
static const char two_nics[] = TOPO(
	NIC("01", "20", "21", OSDEV("ib0", "2", "22") OSDEV("mlx5_0", "3", "23")),
	NIC("81", "30", "31", OSDEV("eth1", "2", "32") OSDEV("mlx5_1", "3", "33")));
static const char no_nics[] = TOPO("", NIC("81", "30", "31", OSDEV("eth1", "2", "32")));

static struct dtp_topo *load(const char *xml)
{
	struct dtp_topo *t = NULL;
	struct dtp_err err = { 0 };

	if (dtp_topo_load(xml, &t, &err))
		fail_msg("topology: %s", err.msg);
	return t;
}

static void test_nearest_nic(void **state)
{
	struct dtp_topo *t = load(two_nics);
	struct dtp_err err = { 0 };
	char nic[DTP_NIC_MAX];

	(void)state;
	assert_int_equal(dtp_topo_num_cores(t), 4);
	assert_int_equal(dtp_place_nearest_nic(t, "2-3", nic, sizeof(nic), &err), 0);
	assert_string_equal(nic, "mlx5_1");
	assert_int_equal(dtp_place_nearest_nic(t, "3", nic, sizeof(nic), &err), 0);
	assert_string_equal(nic, "mlx5_1");
	assert_int_equal(dtp_place_nearest_nic(t, "0-1", nic, sizeof(nic), &err), 0);
	assert_string_equal(nic, "mlx5_0");
	assert_int_equal(dtp_place_nearest_nic(t, "1", nic, sizeof(nic), &err), 0);
	assert_string_equal(nic, "mlx5_0");
	/* spanning both packages: equally near, the first one */
	assert_int_equal(dtp_place_nearest_nic(t, "1-2", nic, sizeof(nic), &err), 0);
	assert_string_equal(nic, "mlx5_0");
	/* cores that are not there */
	assert_int_equal(dtp_place_nearest_nic(t, "4-5", nic, sizeof(nic), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not all on this machine"));
	assert_non_null(strstr(err.msg, "0-3"));
	assert_int_equal(dtp_place_nearest_nic(t, "x", nic, sizeof(nic), &err), -EINVAL);
	dtp_topo_destroy(t);

	t = load(no_nics);
	assert_int_equal(dtp_place_nearest_nic(t, "2-3", nic, sizeof(nic), &err), -ENODEV);
	dtp_topo_destroy(t);
}

static void test_split(void **state)
{
	struct dtp_topo *t = load(two_nics);
	struct dtp_err err = { 0 };
	char lists[6][DTP_CPULIST_MAX];
	int shared = -1;

	(void)state;
	assert_int_equal(dtp_place_split(t, 2, lists, &shared, &err), 0);
	assert_int_equal(shared, 0);
	assert_string_equal(lists[0], "0-1");
	assert_string_equal(lists[1], "2-3");
	assert_int_equal(dtp_place_split(t, 3, lists, &shared, &err), 0);
	assert_string_equal(lists[0], "0");
	assert_string_equal(lists[1], "1");
	assert_string_equal(lists[2], "2-3");
	assert_int_equal(dtp_place_split(t, 1, lists, &shared, &err), 0);
	assert_string_equal(lists[0], "0-3");
	assert_int_equal(dtp_place_split(t, 6, lists, &shared, &err), 0);
	assert_int_equal(shared, 1);
	assert_string_equal(lists[4], "0");
	assert_string_equal(lists[5], "1");
	assert_int_equal(dtp_place_split(t, 0, lists, &shared, &err), -EINVAL);
	dtp_topo_destroy(t);

	assert_int_equal(dtp_cpulist_count("0-3,8"), 5);
	assert_int_equal(dtp_cpulist_count("7"), 1);
	assert_int_equal(dtp_cpulist_count("1-"), -EINVAL);
}

static void test_place_stage_from_plan(void **state)
{
	struct dtp_topo *t = load(two_nics);
	struct dtp_err err = { 0 };
	struct dtp_plan p;
	char cores[DTP_CPULIST_MAX], nic[DTP_NIC_MAX];
	int shared = -1;

	(void)state;
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nkind = mlp\nwidths = 8-8-8-8-4\n"
		"[stage.0]\nunits = 0\n[stage.1]\nunits = 1\nhost = elsewhere\n"
		"[stage.2]\nunits = 2\nhost = localhost\n[stage.3]\nunits = 3\ncores = 1\nnic = mine0\n",
		"p.ini", &p, &err), 0);
	/* stages 0, 2 and 3 share this host; 3 names its own cores, 0 and 2 split it */
	assert_int_equal(dtp_place_stage(t, &p, 0, cores, nic, &shared, &err), 0);
	assert_string_equal(cores, "0-1");
	assert_string_equal(nic, "mlx5_0");
	assert_int_equal(shared, 0);
	assert_int_equal(dtp_place_stage(t, &p, 2, cores, nic, &shared, &err), 0);
	assert_string_equal(cores, "2-3");
	assert_string_equal(nic, "mlx5_1");
	assert_int_equal(dtp_place_stage(t, &p, 3, cores, nic, &shared, &err), 0);
	assert_string_equal(cores, "1");
	assert_string_equal(nic, "mine0");
	/* the only stage on its host gets the whole machine */
	assert_int_equal(dtp_place_stage(t, &p, 1, cores, nic, &shared, &err), 0);
	assert_string_equal(cores, "0-3");
	assert_int_equal(dtp_place_stage(t, &p, 4, cores, nic, &shared, &err), -EINVAL);
	/* cores the machine does not have: named with the plan's file and line */
	snprintf(p.stages[3].cores, sizeof(p.stages[3].cores), "9");
	p.stages[3].nic[0] = '\0';
	assert_int_equal(dtp_place_stage(t, &p, 3, cores, nic, &shared, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "p.ini:12: [stage.3]"));
	/* ... also when the plan names the NIC (nothing else looks at the cores
	 * then): a plan for another machine, the stage, host and what to do */
	snprintf(p.stages[3].cores, sizeof(p.stages[3].cores), "8-15");
	snprintf(p.stages[3].nic, sizeof(p.stages[3].nic), "mlx5_0");
	snprintf(p.stages[3].host, sizeof(p.stages[3].host), "node7");
	assert_int_equal(dtp_place_stage(t, &p, 3, cores, nic, &shared, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "p.ini:12: [stage.3]: host node7: cores 8-15 are not "
			       "all on this machine (this process may use 0-3)"));
	assert_non_null(strstr(err.msg, "written for another machine"));
	assert_non_null(strstr(err.msg, "--topology"));
	dtp_topo_destroy(t);

	t = load(no_nics);
	assert_int_equal(dtp_place_stage(t, &p, 0, cores, nic, &shared, &err), 0);
	assert_string_equal(nic, "");
	dtp_topo_destroy(t);
}

static void test_bind_this_machine(void **state)
{
	struct dtp_topo *t = load(NULL);
	struct dtp_err err = { 0 };
	struct dtp_bind_info info;
	char lists[1][DTP_CPULIST_MAX], last[16];
	cpu_set_t before, after;
	int shared, cpu = -1;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(before), &before), 0);
	/* bind to the last allowed CPU, then check what the kernel says */
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &before))
			cpu = c;
	snprintf(last, sizeof(last), "%d", cpu);
	assert_int_equal(dtp_place_bind(t, last, &info, &err), 0);
	assert_int_equal(info.n_pus, 1);
	assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
	assert_int_equal(CPU_COUNT(&after), 1);
	assert_true(CPU_ISSET(cpu, &after));
	/* a core set that is not on this machine is refused, binding unchanged */
	assert_int_equal(dtp_place_bind(t, "100000", &info, &err), -EINVAL);
	assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
	assert_true(CPU_ISSET(cpu, &after));
	/* the whole machine as one stage */
	assert_int_equal(dtp_place_split(t, 1, lists, &shared, &err), 0);
	assert_int_equal(dtp_place_bind(t, lists[0], &info, &err), 0);
	assert_int_equal(info.n_pus, dtp_cpulist_count(lists[0]));
	assert_int_equal(sched_setaffinity(0, sizeof(before), &before), 0);
	dtp_topo_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nearest_nic),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_place_stage_from_plan),
		cmocka_unit_test(test_bind_this_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
