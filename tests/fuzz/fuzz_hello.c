/* Fuzz target: the connection handshake (src/rdma/hello.c), as a listener
 * receives it (tcp/shm: exactly 32 bytes; verbs: rdma_cm private data of any
 * length up to 56). The input is what the peer sent; this side is stage 1
 * of a job, expecting stage 0. A hello that passes must name exactly what
 * this side expects (it packs back to the same 32 bytes from the peer's
 * view); a refused one must come with a message naming what differs. */
#include "config.h"
#include "fuzz.h"

#include <errno.h>

#include "rdma/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dtp_link_config cfg, peer;
	struct dtp_hello h;
	struct dtp_err err = { 0 };
	uint8_t mine[DTP_HELLO_BYTES];
	int rc;

	dtp_link_config_default(&cfg);
	cfg.self_stage = 1;
	cfg.peer_stage = 0;
	snprintf(cfg.host, sizeof(cfg.host), "%s", FUZZ_HELLO_HOST);
	cfg.port = FUZZ_HELLO_PORT;
	cfg.job_key = FUZZ_HELLO_JOB_KEY;
	cfg.plan_hash = FUZZ_HELLO_PLAN_HASH;
	for (int kind = 0; kind < 2; kind++) {
		cfg.kind = kind ? DTP_TRANSPORT_VERBS : DTP_TRANSPORT_TCP;
		memset(&h, 0, sizeof(h));
		rc = dtp_hello_check(&cfg, data, size, &h, &err);
		if (rc) {
			FUZZ_CHECK_ERR(rc, err);
			FUZZ_CHECK(rc == -EPROTO);
			continue;
		}
		FUZZ_CHECK(size >= DTP_HELLO_BYTES);
		peer = cfg;
		peer.self_stage = cfg.peer_stage;
		peer.peer_stage = cfg.self_stage;
		dtp_hello_pack(&peer, mine);
		FUZZ_CHECK(memcmp(mine, data, DTP_HELLO_BYTES) == 0);
		FUZZ_CHECK(h.from_stage == 0 && h.to_stage == 1 && h.job_key == cfg.job_key &&
			   h.plan_hash == cfg.plan_hash);
	}
	return 0;
}
