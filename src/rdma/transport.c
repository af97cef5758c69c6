/* The transport API the pipeline uses: kind names, `auto` selection, and
 * dispatch through the link's ops table. */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef DTP_HAVE_VERBS
#include <infiniband/verbs.h>
#endif

#include "rdma/link.h"

static const char *const kind_names[] = {
	[DTP_TRANSPORT_AUTO] = "auto",
	[DTP_TRANSPORT_VERBS] = "verbs",
	[DTP_TRANSPORT_TCP] = "tcp",
	[DTP_TRANSPORT_SHM] = "shm",
};

int dtp_transport_kind_parse(const char *s, enum dtp_transport_kind *out)
{
	for (size_t i = 0; s && i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcmp(s, kind_names[i]) == 0) {
			*out = (enum dtp_transport_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *dtp_transport_kind_name(enum dtp_transport_kind k)
{
	if ((unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]))
		return kind_names[k];
	return "unknown";
}

void dtp_link_config_default(struct dtp_link_config *c)
{
	memset(c, 0, sizeof(*c));
	c->kind = DTP_TRANSPORT_AUTO;
	snprintf(c->host, sizeof(c->host), "127.0.0.1");
	c->connect_timeout_ms = 30000;
	c->max_msg_bytes = (size_t)64 << 20;
	c->slots = 4;
	c->ib_port = -1;
	c->gid_index = -1;
}

/* Does `host` name an address of this machine? Loopback addresses do; any
 * other address does when a socket can be bound to it. */
int dtp_link_host_is_local(const char *host)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res, *ai;
	int local = 0;

	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return 0;
	for (ai = res; ai && !local; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			continue;
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			local = 1;
		close(fd);
	}
	freeaddrinfo(res);
	return local;
}

static int rdma_device_present(void)
{
#ifdef DTP_HAVE_VERBS
	int n = 0;
	struct ibv_device **list = ibv_get_device_list(&n);

	if (list)
		ibv_free_device_list(list);
	return n > 0;
#else
	return 0;
#endif
}

enum dtp_transport_kind dtp_transport_resolve(const struct dtp_link_config *cfg)
{
	if (cfg->kind != DTP_TRANSPORT_AUTO)
		return cfg->kind;
	if (rdma_device_present())
		return DTP_TRANSPORT_VERBS;
	/* both ends must choose alike: shm only when the listener's host and the
	 * connecting side's host are both this machine (an unknown connecting host
	 * counts as this one) */
	if (dtp_link_host_is_local(cfg->host) &&
	    (!cfg->connect_host[0] || dtp_link_host_is_local(cfg->connect_host)))
		return DTP_TRANSPORT_SHM;
	return DTP_TRANSPORT_TCP;
}

int dtp_link_open(const struct dtp_link_config *cfg, struct dtp_link **out, struct dtp_err *err)
{
	const struct dtp_transport_ops *ops = NULL;
	enum dtp_transport_kind k = dtp_transport_resolve(cfg);
	struct dtp_link_config c = *cfg;

	switch (k) {
	case DTP_TRANSPORT_TCP:
		ops = &dtp_tcp_ops;
		break;
	case DTP_TRANSPORT_SHM:
		ops = &dtp_shm_ops;
		break;
	case DTP_TRANSPORT_VERBS:
#ifdef DTP_HAVE_VERBS
		ops = &dtp_verbs_ops;
#endif
		break;
	default:
		break;
	}
	if (!ops)
		return dtp_errf_input(err, -EINVAL,
				      "stage %d: transport '%s' is not built in: reconfigure with "
				      "libibverbs-dev and librdmacm-dev installed, or choose tcp or shm",
				      cfg->self_stage, dtp_transport_kind_name(k));
	if (cfg->kind == DTP_TRANSPORT_AUTO)
		dtp_info("stage %d: link to stage %d uses %s (transport = auto: %s)",
			 cfg->self_stage, cfg->peer_stage, ops->name,
			 k == DTP_TRANSPORT_VERBS ? "an RDMA device is present" :
			 k == DTP_TRANSPORT_SHM ? "no RDMA device, peer on this host" :
			 "no RDMA device, peer on another host");
	c.kind = k;
	if (c.slots < 1)
		return dtp_errf_input(err, -EINVAL, "stage %d: slots = %d, need at least 1",
				      cfg->self_stage, c.slots);
	return ops->open(&c, out, err);
}

static const struct dtp_transport_ops *ops_of(const struct dtp_link *l)
{
	return ((const struct dtp_link_base *)(const void *)l)->ops;
}

const char *dtp_link_transport(const struct dtp_link *l)
{
	return ops_of(l)->name;
}

int dtp_link_reg(struct dtp_link *l, void *buf, size_t len, struct dtp_mr **out, struct dtp_err *err)
{
	return ops_of(l)->reg(l, buf, len, out, err);
}

void dtp_link_dereg(struct dtp_link *l, struct dtp_mr *mr)
{
	if (mr)
		ops_of(l)->dereg(l, mr);
}

/* dtp_link_alloc/free (transport.h): the transport's own allocator when it
 * has one, else aligned memory and an ordinary registration */
int dtp_link_alloc(struct dtp_link *l, size_t len, void **buf, struct dtp_mr **mr,
		   struct dtp_err *err)
{
	const struct dtp_link_base *b = (const struct dtp_link_base *)(const void *)l;
	void *p;
	int rc;

	if (b->ops->alloc)
		return b->ops->alloc(l, len, buf, mr, err);
	p = dtp_alloc_aligned(len, DTP_PAGE);
	if (!p)
		return dtp_errf_runtime(err, -ENOMEM, "stage %d: no memory for a %zu-byte link buffer",
					b->cfg.self_stage, len);
	rc = dtp_link_reg(l, p, len, mr, err);
	if (rc) {
		dtp_free(p);
		return rc;
	}
	*buf = p;
	return 0;
}

void dtp_link_free(struct dtp_link *l, void *buf, struct dtp_mr *mr)
{
	const struct dtp_transport_ops *ops = ops_of(l);

	if (ops->free) {
		ops->free(l, buf, mr);
		return;
	}
	dtp_link_dereg(l, mr);
	dtp_free(buf);
}

int dtp_link_isend(struct dtp_link *l, const struct dtp_tag *tag, const void *buf, size_t len,
		   struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err)
{
	return ops_of(l)->isend(l, tag, buf, len, mr, req, err);
}

int dtp_link_irecv(struct dtp_link *l, const struct dtp_tag *tag, void *buf, size_t cap,
		   struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err)
{
	return ops_of(l)->irecv(l, tag, buf, cap, mr, req, err);
}

int dtp_link_test(struct dtp_link *l, struct dtp_req *req, int *done, struct dtp_err *err)
{
	return ops_of(l)->test(l, req, done, err);
}

int dtp_link_wait(struct dtp_link *l, struct dtp_req *req, int timeout_ms, struct dtp_err *err)
{
	return ops_of(l)->wait(l, req, timeout_ms, err);
}

void dtp_link_close(struct dtp_link *l)
{
	if (l)
		ops_of(l)->close(l);
}

void dtp_link_stats(struct dtp_link *l, struct dtp_link_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (ops_of(l)->stats)
		ops_of(l)->stats(l, out);
}
