/* The shm transport's segment under /dev/shm is never left behind: the
 * connector removes its name as soon as it has it open (so a listener killed
 * after sending the name and before the acknowledgement leaves nothing), and
 * a listener removes the segments of its link left by earlier listeners that
 * died before even sending the name. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "rdma/shm.h"
#include "rdma/sock.h"
#include "loopback.h"

static void cfg_for(struct dtp_link_config *c, int stage, int port)
{
	loopback_cfg(c, DTP_TRANSPORT_SHM, stage, port);
	c->max_msg_bytes = 1 << 20;
	c->slots = 2;
}

static pid_t start_listener(int port)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct dtp_link_config c;
		struct dtp_link *l;
		struct dtp_err err;

		cfg_for(&c, 0, port);
		if (dtp_link_open(&c, &l, &err) == 0)
			dtp_link_close(l);
		_exit(0);
	}
	return pid;
}

/* The listener is SIGKILLed while it waits for the acknowledgement, i.e.
 * after it sent the segment's name: the connector still maps the segment,
 * and then no name is left in /dev/shm. */
static void test_listener_killed_before_ack(void **state)
{
	struct dtp_link_config c;
	struct dtp_err err = { 0 };
	char name[256];
	uint8_t len = 0;
	int port = loopback_free_port(), fd, sp[2], rc;
	pid_t pid = start_listener(port);
	void *map = NULL;

	(void)state;
	cfg_for(&c, 1, port);
	/* the connector's side by hand, up to the name: the listener then sits
	 * in the wait for our acknowledgement */
	rc = dtp_sock_connect_peer(&c, &fd, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(dtp_sock_read_full(fd, &len, 1, dtp_now_ns() + 10000000000ull), 0);
	assert_int_equal(dtp_sock_read_full(fd, name, len, dtp_now_ns() + 10000000000ull), 0);
	name[len] = 0;
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	close(fd);
	assert_int_equal(access(name, F_OK), 0);     /* the listener did not remove it */
	/* the connector's real code maps the named segment from here */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(write(sp[0], &len, 1), 1);
	assert_int_equal(write(sp[0], name, len), (ssize_t)len);
	rc = dtp_shm_map_segment(sp[1], &c, 4096, name, 0, &map, &err);
	if (rc)
		fail_msg("map_segment: %s", err.msg);
	munmap(map, 4096);
	close(sp[0]);
	close(sp[1]);
	rc = access(name, F_OK);
	if (rc == 0)
		unlink(name);
	assert_int_equal(rc, -1);
	assert_int_equal(errno, ENOENT);
}

static void make_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	close(fd);
}

/* A segment whose listener died before sending its name (nobody will map
 * it) is removed by the next listener of the same link; one whose creator
 * lives is left alone. */
static void test_next_listener_removes_orphans(void **state)
{
	char dead[128], live[128];
	int port = loopback_free_port();
	pid_t gone = fork(), pid, me = getpid();
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_err err = { 0 };
	int status = -1, rc;

	(void)state;
	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);
	snprintf(dead, sizeof(dead), "/dev/shm/dtpipe-%d-s0-s1-5eed", (int)gone);
	snprintf(live, sizeof(live), "/dev/shm/dtpipe-%d-s0-s1-5eed", (int)me);
	make_file(dead);
	make_file(live);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cfg_for(&c, 1, port);
		if (dtp_link_open(&c, &l, &err))
			_exit(1);
		dtp_link_close(l);
		_exit(0);
	}
	cfg_for(&c, 0, port);
	rc = dtp_link_open(&c, &l, &err);
	if (rc == 0)
		dtp_link_close(l);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	rc = rc ? rc : access(dead, F_OK);
	unlink(dead);
	assert_int_equal(access(live, F_OK), 0);
	unlink(live);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(rc, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listener_killed_before_ack),
		cmocka_unit_test(test_next_listener_removes_orphans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
