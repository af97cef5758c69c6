/* For the CMocka tests of src/rdma that open real sockets: a loopback port
 * nobody holds now, and the config of a link on it between stage 0 (which
 * listens) and stage 1. Include after <cmocka.h>. */
#ifndef DTP_TESTS_RDMA_LOOPBACK_H
#define DTP_TESTS_RDMA_LOOPBACK_H

#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rdma/transport.h"

static inline int loopback_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static inline void loopback_cfg(struct dtp_link_config *c, enum dtp_transport_kind kind, int stage,
				int port)
{
	dtp_link_config_default(c);
	c->kind = kind;
	c->self_stage = stage;
	c->peer_stage = !stage;
	c->listen = stage == 0;
	snprintf(c->host, sizeof(c->host), "127.0.0.1");
	c->port = port;
	c->job_key = 0x5345474d454e54ull;
	c->plan_hash = 0x6f727068616e73ull;
	c->connect_timeout_ms = 15000;
}

#endif
