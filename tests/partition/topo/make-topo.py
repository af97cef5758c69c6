#!/usr/bin/env python3
"""Write the hwloc 2 XML topologies of tests/partition/topo (run once by hand;
the .xml files are committed). Each machine: packages > dies (one NUMA node
each) > cores (one PU each); a NIC is a host bridge > InfiniBand PCI device >
OpenFabrics OS device (osdev_type 3) under the die it is local to, with a
plain network interface (osdev_type 2) beside it that must not count."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def mask(pus):
    v = 0
    for p in pus:
        v |= 1 << p
    return "0x%08x" % v


def sets(cpus, nodes):
    c, n = mask(cpus), mask(nodes)
    return ('cpuset="%s" complete_cpuset="%s" nodeset="%s" complete_nodeset="%s"'
            % (c, c, n, n))


def machine(name, packages, dies, cores, nics):
    """packages x dies x cores; nics: {die_global_index: [names]}"""
    gp = [1]
    bus = [1]

    def g():
        gp[0] += 1
        return gp[0]

    total = packages * dies * cores
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<!DOCTYPE topology SYSTEM "hwloc2.dtd">',
           '<topology version="2.0">',
           '<object type="Machine" os_index="0" %s allowed_cpuset="%s" allowed_nodeset="%s" '
           'gp_index="1">' % (sets(range(total), range(packages * dies)), mask(range(total)),
                              mask(range(packages * dies)))]
    for p in range(packages):
        pcpus = range(p * dies * cores, (p + 1) * dies * cores)
        out.append('<object type="Package" os_index="%d" %s gp_index="%d">'
                   % (p, sets(pcpus, range(p * dies, (p + 1) * dies)), g()))
        for d in range(dies):
            node = p * dies + d
            dcpus = range(node * cores, (node + 1) * cores)
            out.append('<object type="Die" os_index="%d" %s gp_index="%d">'
                       % (node, sets(dcpus, [node]), g()))
            out.append('<object type="NUMANode" os_index="%d" %s gp_index="%d" '
                       'local_memory="1073741824"><page_type size="4096" count="0"/></object>'
                       % (node, sets(dcpus, [node]), g()))
            for c in dcpus:
                out.append('<object type="Core" os_index="%d" %s gp_index="%d">'
                           '<object type="PU" os_index="%d" %s gp_index="%d"/></object>'
                           % (c, sets([c], [node]), g(), c, sets([c], [node]), g()))
            for nic in nics.get(node, []):
                b = "%02x" % bus[0]
                bus[0] += 1
                out.append('<object type="Bridge" gp_index="%d" bridge_type="0-1" depth="0" '
                           'bridge_pci="0000:[%s-%s]">' % (g(), b, b))
                out.append('<object type="PCIDev" gp_index="%d" pci_busid="0000:%s:00.0" '
                           'pci_type="0207 [15b3:101b] [15b3:0007] 00" '
                           'pci_link_speed="0.000000">' % (g(), b))
                out.append('<object type="OSDev" gp_index="%d" name="ib%s" osdev_type="2"/>'
                           % (g(), nic[-1]))
                out.append('<object type="OSDev" gp_index="%d" name="%s" osdev_type="3"/>'
                           % (g(), nic))
                out.append('</object></object>')
            out.append('</object>')
        out.append('</object>')
    out.append('</object></topology>')
    with open(os.path.join(HERE, name), "w") as f:
        f.write("\n".join(out) + "\n")


# two packages of 4 cores, the NIC on the second
machine("two-pkg-nic1.xml", 2, 1, 4, {1: ["mlx5_0"]})
# two packages x two dies: four NUMA nodes of 2 cores; mlx5_0 on node 2, mlx5_1 on node 1
machine("four-numa-two-nics.xml", 2, 2, 2, {2: ["mlx5_0"], 1: ["mlx5_1"]})
# eight packages of 2 cores, one NIC on package 4 (cores 8-9)
machine("eight-pkg-nic-mid.xml", 8, 1, 2, {4: ["mlx5_0"]})
# two packages of 4 cores and no NIC
machine("two-pkg-no-nic.xml", 2, 1, 4, {})
# a bigger node type: two packages of 8 cores, the NIC on the first
machine("two-pkg16-nic0.xml", 2, 1, 8, {0: ["mlx5_0"]})
