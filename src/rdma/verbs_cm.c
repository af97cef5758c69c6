/* The verbs transport's connection set-up with librdmacm on IP addresses:
 * the connecting side (the higher stage) retries until its deadline so stages
 * may start in any order; the listener checks the 32-byte hello carried in
 * the connect private data and rejects strangers with a reason, then keeps
 * listening. See docs/wire-protocol.md ("Verbs"). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "rdma/verbs.h"

#define REJECT_MAGIC "DTPR"      /* our reject private data: magic + reason text */
#define REJECT_MAX 140           /* IB CM REJ private data holds 148 bytes */

/* next connection event, or -ETIMEDOUT at the deadline (channel fd is non-blocking) */
static int next_event(struct rdma_event_channel *ch, uint64_t deadline, struct rdma_cm_event **ev)
{
	for (;;) {
		struct pollfd p = { .fd = ch->fd, .events = POLLIN };
		int ms;

		if (rdma_get_cm_event(ch, ev) == 0)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ms = dtp_ms_left(deadline);
		if (ms == 0)
			return -ETIMEDOUT;
		poll(&p, 1, ms > 200 ? 200 : ms);
	}
}

static int resolve(const struct dtp_link_config *cfg, struct sockaddr_storage *sa, struct dtp_err *err)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	char port[16];
	int rc;

	snprintf(port, sizeof(port), "%d", cfg->port);
	rc = getaddrinfo(cfg->host, port, &hints, &ai);
	if (rc)
		return dtp_errf_input(err, -EHOSTUNREACH, "verbs link stage %d <-> stage %d: cannot resolve "
				      "'%s': %s: give the IP address of the listener's RDMA interface",
				      cfg->self_stage, cfg->peer_stage, cfg->host, gai_strerror(rc));
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

/* RoCE: the GID index given in the config must be the one the address maps to */
static int check_gid(struct dtp_verbs_link *l, struct rdma_cm_id *id, struct dtp_err *err)
{
	const struct dtp_link_config *c = &l->base.cfg;
	struct sockaddr *sa = rdma_get_local_addr(id);
	struct ibv_port_attr pa;
	union ibv_gid want, g;
	int i, found = -1;

	if (sa->sa_family != AF_INET || ibv_query_port(id->verbs, id->port_num, &pa) ||
	    pa.link_layer != IBV_LINK_LAYER_ETHERNET)
		return 0;
	memset(&want, 0, sizeof(want));
	want.raw[10] = 0xff;
	want.raw[11] = 0xff;
	memcpy(&want.raw[12], &((struct sockaddr_in *)sa)->sin_addr, 4);
	if (ibv_query_gid(id->verbs, id->port_num, c->gid_index, &g) == 0 && !memcmp(&g, &want, 16))
		return 0;
	for (i = 0; i < 16 && found < 0; i++)
		if (ibv_query_gid(id->verbs, id->port_num, i, &g) == 0 && !memcmp(&g, &want, 16))
			found = i;
	return dtp_errf_input(err, -EINVAL, "verbs link stage %d <-> stage %d: gid_index %d on %s port %d "
			      "is not the RoCE v2 GID of the link's address %s (that is index %d): set "
			      "gid_index = %d, or -1 to take it from the address",
			      c->self_stage, c->peer_stage, c->gid_index,
			      ibv_get_device_name(id->verbs->device), id->port_num,
			      inet_ntoa(((struct sockaddr_in *)sa)->sin_addr), found, found);
}

static void drop_resources(struct dtp_verbs_link *l, struct rdma_cm_id *id)
{
	if (l->vq_ready)
		dtp_vq_destroy(&l->q);
	l->vq_ready = 0;
	if (l->qp_created)
		rdma_destroy_qp(id);
	l->qp_created = 0;
	if (l->cq)
		ibv_destroy_cq(l->cq);
	l->cq = NULL;
	if (l->comp)
		ibv_destroy_comp_channel(l->comp);
	l->comp = NULL;
	if (l->pd)
		ibv_dealloc_pd(l->pd);
	l->pd = NULL;
}

/* PD, completion channel, CQ, RC QP and the protocol queue on id's device */
static int setup_resources(struct dtp_verbs_link *l, struct rdma_cm_id *id, struct dtp_err *err)
{
	const struct dtp_link_config *c = &l->base.cfg;
	const char *dev = ibv_get_device_name(id->verbs->device);
	struct ibv_qp_init_attr qa;
	int sq = dtp_vq_sq_depth(c->slots), rq = dtp_vq_rq_depth(c->slots), rc;

	if (c->ib_dev[0] && strcmp(c->ib_dev, dev))
		return dtp_errf_input(err, -ENODEV, "verbs link stage %d <-> stage %d: %s:%d is reached "
				      "through RDMA device %s, but ib_dev = %s: set ib_dev = %s or use an "
				      "address of an interface on %s (rdma link show)", c->self_stage,
				      c->peer_stage, c->host, c->port, dev, c->ib_dev, dev, c->ib_dev);
	if (c->ib_port > 0 && c->ib_port != id->port_num)
		return dtp_errf_input(err, -ENODEV, "verbs link stage %d <-> stage %d: %s:%d is reached "
				      "through %s port %d, but ib_port = %d: set ib_port = %d or -1",
				      c->self_stage, c->peer_stage, c->host, c->port, dev, id->port_num,
				      c->ib_port, id->port_num);
	if (c->gid_index >= 0 && (rc = check_gid(l, id, err)))
		return rc;
	rc = -ENOMEM;
	l->pd = ibv_alloc_pd(id->verbs);
	if (!l->pd)
		goto out_err;
	l->comp = ibv_create_comp_channel(id->verbs);
	if (!l->comp)
		goto out_drop;
	l->cq = ibv_create_cq(id->verbs, sq + rq + 16, NULL, l->comp, 0);
	if (!l->cq)
		goto out_drop;
	memset(&qa, 0, sizeof(qa));
	qa.qp_type = IBV_QPT_RC;
	qa.send_cq = l->cq;
	qa.recv_cq = l->cq;
	qa.cap.max_send_wr = (uint32_t)sq;
	qa.cap.max_recv_wr = (uint32_t)rq;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	/* control messages and the smallest eager messages go inline (copied
	 * into the work request, no DMA read); a device that cannot inline
	 * this much gets a QP without inline data */
	qa.cap.max_inline_data = DTP_VINLINE_BYTES;
	if (rdma_create_qp(id, l->pd, &qa)) {
		qa.cap.max_inline_data = 0;
		if (rdma_create_qp(id, l->pd, &qa))
			goto out_drop;
	}
	l->qp_created = 1;
	rc = dtp_vq_init(&l->q, l->api, l->pd, id->qp, l->cq, c->slots, c->self_stage,
			 c->peer_stage, err);
	if (rc)
		goto out_drop_quiet;
	l->q.max_inline = qa.cap.max_inline_data < DTP_VINLINE_BYTES ? qa.cap.max_inline_data :
			  DTP_VINLINE_BYTES;
	l->vq_ready = 1;
	rc = dtp_vq_start(&l->q, err);
	if (rc)
		goto out_drop_quiet;
	return 0;

out_drop:
	rc = errno ? -errno : -ENOMEM;
out_drop_quiet:
	drop_resources(l, id);
	if (rc != -ENOMEM && err && err->code == rc)
		return rc;
out_err:
	return dtp_errf_runtime(err, rc, "verbs link stage %d <-> stage %d: creating the queue pair on %s: "
				"%s (check `ulimit -l` and that %s is up: ibv_devinfo -d %s)", c->self_stage,
				c->peer_stage, dev, strerror(-rc), dev, dev);
}

static void conn_param(struct rdma_conn_param *p, const uint8_t *hello)
{
	memset(p, 0, sizeof(*p));
	p->private_data = hello;
	p->private_data_len = DTP_HELLO_BYTES;
	p->responder_resources = 1;
	p->initiator_depth = 1;
	p->retry_count = 7;
	p->rnr_retry_count = 7;     /* infinite: a receiver that is slow to repost is not an error */
}

/* copy an event's connection private data (the peer's hello) into pdata[256]
 * (private_data_len is a uint8_t, so it fits); its length, 0 when none */
static size_t event_pdata(const struct rdma_cm_event *ev, uint8_t *pdata)
{
	size_t n = ev->param.conn.private_data_len;

	if (!ev->param.conn.private_data || !n)
		return 0;
	memcpy(pdata, ev->param.conn.private_data, n);
	return n;
}

/* The next connection event must be `want` (address or route resolved): 0;
 * 1 when another came (*type); -ETIMEDOUT at the deadline, or -errno. */
static int expect_event(struct rdma_event_channel *ch, uint64_t deadline, int want, int *type)
{
	struct rdma_cm_event *ev;
	int rc = next_event(ch, deadline, &ev);

	*type = -1;
	if (rc)
		return rc;
	*type = ev->event;
	rdma_ack_cm_event(ev);
	return *type == want ? 0 : 1;
}

/* one connection attempt; *permanent = 1 when retrying cannot help */
static int try_connect(struct dtp_verbs_link *l, struct sockaddr *dst, uint64_t deadline,
		       int *permanent, struct dtp_err *err)
{
	const struct dtp_link_config *c = &l->base.cfg;
	uint8_t hello[DTP_HELLO_BYTES], pdata[256];
	struct rdma_conn_param p;
	struct rdma_cm_event *ev;
	struct rdma_cm_id *id;
	int rc, type, status;
	size_t plen;

	*permanent = 0;
	if (rdma_create_id(l->ch, &id, l, RDMA_PS_TCP))
		return dtp_errf_runtime(err, -errno, "verbs link stage %d -> stage %d: rdma_create_id: %s",
					c->self_stage, c->peer_stage, strerror(errno));
	rc = -EHOSTUNREACH;
	if (rdma_resolve_addr(id, NULL, dst, 2000))
		goto out_destroy_id;
	rc = expect_event(l->ch, deadline, RDMA_CM_EVENT_ADDR_RESOLVED, &type);
	if (rc == 1) {
		*permanent = 1;
		rc = dtp_errf_runtime(err, -EHOSTUNREACH, "verbs link stage %d -> stage %d: %s is not reachable "
				      "through an RDMA device (%s): give the listener's address on its RDMA "
				      "interface (rdma link show; ibv_devices)", c->self_stage, c->peer_stage,
				      c->host, rdma_event_str(type));
		goto out_destroy_id;
	}
	if (rc)
		goto out_destroy_id;
	rc = -EHOSTUNREACH;
	if (rdma_resolve_route(id, 2000))
		goto out_destroy_id;
	rc = expect_event(l->ch, deadline, RDMA_CM_EVENT_ROUTE_RESOLVED, &type);
	if (rc)
		rc = rc == 1 ? -EHOSTUNREACH : rc;
	if (rc)
		goto out_destroy_id;
	rc = setup_resources(l, id, err);
	if (rc) {
		*permanent = 1;
		goto out_destroy_id;
	}
	dtp_hello_pack(c, hello);
	conn_param(&p, hello);
	rc = -ECONNREFUSED;
	if (rdma_connect(id, &p))
		goto out_drop;
	if ((rc = next_event(l->ch, deadline, &ev)))
		goto out_drop;
	type = ev->event;
	status = ev->status;
	plen = event_pdata(ev, pdata);
	rdma_ack_cm_event(ev);
	if (type == RDMA_CM_EVENT_ESTABLISHED) {
		rc = dtp_hello_check(c, pdata, plen, NULL, err);
		if (rc) {
			*permanent = 1;
			dtp_err_prefix(err, "verbs link to %s:%d: the listener's answer: ", c->host, c->port);
			rdma_disconnect(id);
			goto out_drop;
		}
		l->id = id;
		return 0;
	}
	if (type == RDMA_CM_EVENT_REJECTED && plen > 4 && !memcmp(pdata, REJECT_MAGIC, 4)) {
		*permanent = 1;
		pdata[plen < sizeof(pdata) ? plen : sizeof(pdata) - 1] = 0;
		rc = dtp_errf_runtime(err, -EPROTO, "verbs link stage %d -> stage %d (%s:%d): the listener "
				      "refused the handshake: %s", c->self_stage, c->peer_stage, c->host,
				      c->port, (char *)pdata + 4);
		goto out_drop;
	}
	rc = dtp_errf_runtime(err, -ECONNREFUSED, "verbs link stage %d -> stage %d: %s:%d did not accept (%s, "
		 "status %d): is stage %d running and listening there?", c->self_stage,
		 c->peer_stage, c->host, c->port, rdma_event_str(type), status, c->peer_stage);
out_drop:
	drop_resources(l, id);
out_destroy_id:
	rdma_destroy_id(id);
	if (rc == -EHOSTUNREACH && !*permanent)
		dtp_errf_runtime(err, rc, "verbs link stage %d -> stage %d: resolving %s:%d failed: %s",
				 c->self_stage, c->peer_stage, c->host, c->port,
				 "is the address on an RDMA interface (rdma link show)?");
	return rc;
}

static int do_connect(struct dtp_verbs_link *l, struct sockaddr *dst, uint64_t deadline,
		      struct dtp_err *err)
{
	const struct dtp_link_config *c = &l->base.cfg;
	struct dtp_err last = { 0 };
	int permanent, rc, tries = 0;

	for (;;) {
		struct dtp_err e1 = { 0 };

		tries++;
		rc = try_connect(l, dst, deadline, &permanent, &e1);
		if (rc == 0)
			return 0;
		if (permanent) {
			/* e1 says what and of which class (an unresolvable host is input) */
			dtp_err_copy(err, &e1);
			return rc;
		}
		if (e1.code)
			last = e1;
		if (dtp_ms_left(deadline) == 0)
			break;
		usleep(50 * 1000);
	}
	return dtp_errf_runtime(err, -ETIMEDOUT, "verbs link stage %d -> stage %d: could not connect to %s:%d "
				"within %d ms (%d attempts; last: %s): is stage %d running and listening "
				"there with this plan?", c->self_stage, c->peer_stage, c->host, c->port,
				c->connect_timeout_ms, tries, last.code ? last.msg : "no answer",
				c->peer_stage);
}

static void refuse(struct rdma_cm_id *id, const char *why)
{
	char buf[4 + REJECT_MAX];
	size_t n = strlen(why);

	if (n > REJECT_MAX - 1)
		n = REJECT_MAX - 1;
	memcpy(buf, REJECT_MAGIC, 4);
	memcpy(buf + 4, why, n);
	buf[4 + n] = 0;
	rdma_reject(id, buf, (uint8_t)(4 + n + 1));
	rdma_destroy_id(id);
}

static int do_listen(struct dtp_verbs_link *l, struct sockaddr *addr, uint64_t deadline,
		     struct dtp_err *err)
{
	const struct dtp_link_config *c = &l->base.cfg;
	struct rdma_cm_id *lid, *pending = NULL;
	uint8_t hello[DTP_HELLO_BYTES], pdata[256];
	struct rdma_conn_param p;
	struct rdma_cm_event *ev;
	struct dtp_err herr;
	char last[200] = "";
	int rc, refusals = 0;

	if (rdma_create_id(l->ch, &lid, l, RDMA_PS_TCP))
		return dtp_errf_runtime(err, -errno, "verbs link stage %d <- stage %d: rdma_create_id: %s",
					c->self_stage, c->peer_stage, strerror(errno));
	if (rdma_bind_addr(lid, addr) || rdma_listen(lid, 8)) {
		rc = dtp_errf_runtime(err, -errno, "verbs link stage %d <- stage %d: listening on %s:%d: %s: "
				      "the address must be on an RDMA interface (rdma link show) and the port "
				      "free", c->self_stage, c->peer_stage, c->host, c->port, strerror(errno));
		goto out_destroy_lid;
	}
	dtp_hello_pack(c, hello);
	for (;;) {
		struct rdma_cm_id *id;
		size_t plen;
		int type;

		rc = next_event(l->ch, deadline, &ev);
		if (rc) {
			char why[260] = "";

			if (refusals)
				snprintf(why, sizeof(why), " It refused %d connection(s), the last because: %s",
					 refusals, last);
			rc = dtp_errf_runtime(err, rc, "verbs link stage %d <- stage %d: no peer connected to "
					      "%s:%d within %d ms: is stage %d running with this plan?%s",
					      c->self_stage, c->peer_stage, c->host, c->port,
					      c->connect_timeout_ms, c->peer_stage, why);
			goto out_drop_pending;
		}
		type = ev->event;
		id = ev->id;
		plen = event_pdata(ev, pdata);
		rdma_ack_cm_event(ev);
		if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
			if (pending) {
				refuse(id, "busy: this stage already has its peer");
				continue;
			}
			if (dtp_hello_check(c, pdata, plen, NULL, &herr)) {
				dtp_warn("verbs: stage %d refused a connection on %s:%d: %s", c->self_stage,
					 c->host, c->port, herr.msg);
				refuse(id, herr.msg);
				refusals++;
				snprintf(last, sizeof(last), "%.150s", herr.msg);
				continue;
			}
			rc = setup_resources(l, id, err);
			if (rc) {
				refuse(id, "the listener could not create its queue pair");
				goto out_destroy_lid;
			}
			conn_param(&p, hello);
			if (rdma_accept(id, &p)) {
				drop_resources(l, id);
				rdma_destroy_id(id);
				continue;
			}
			pending = id;
		} else if (id == pending && type == RDMA_CM_EVENT_ESTABLISHED) {
			l->id = pending;
			rdma_destroy_id(lid);
			return 0;
		} else if (id == pending) {     /* the connector gave up: keep listening */
			drop_resources(l, pending);
			rdma_destroy_id(pending);
			pending = NULL;
		}
	}

out_drop_pending:
	if (pending) {
		drop_resources(l, pending);
		rdma_destroy_id(pending);
	}
out_destroy_lid:
	rdma_destroy_id(lid);
	return rc;
}

int dtp_verbs_establish(struct dtp_verbs_link *l, struct dtp_err *err)
{
	const struct dtp_link_config *c = &l->base.cfg;
	uint64_t deadline = dtp_now_ns() + (uint64_t)(c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 30000) * 1000000u;
	struct sockaddr_storage sa;
	int rc;

	rc = resolve(c, &sa, err);
	if (rc)
		return rc;
	l->ch = rdma_create_event_channel();
	if (!l->ch)
		return dtp_errf_runtime(err, -ENODEV, "verbs link stage %d <-> stage %d: "
					"rdma_create_event_channel: %s: is rdma_ucm loaded and an RDMA device "
					"present (ibv_devices)?", c->self_stage, c->peer_stage, strerror(errno));
	if (fcntl(l->ch->fd, F_SETFL, fcntl(l->ch->fd, F_GETFL) | O_NONBLOCK)) {
		rc = dtp_errf_runtime(err, -errno, "verbs: fcntl on the event channel: %s", strerror(errno));
		goto out_destroy_ch;
	}
	rc = c->listen ? do_listen(l, (struct sockaddr *)&sa, deadline, err)
		       : do_connect(l, (struct sockaddr *)&sa, deadline, err);
	if (rc)
		goto out_destroy_ch;
	return 0;

out_destroy_ch:
	rdma_destroy_event_channel(l->ch);
	l->ch = NULL;
	return rc;
}

void dtp_verbs_teardown(struct dtp_verbs_link *l)
{
	if (l->id) {
		drop_resources(l, l->id);
		rdma_destroy_id(l->id);
		l->id = NULL;
	}
	if (l->ch)
		rdma_destroy_event_channel(l->ch);
	l->ch = NULL;
}
