/* Fuzz target: the frame header of the byte-stream transports
 * (dtp_frame_check in src/rdma/hello.c, which tcp (stream.c) and shm
 * (stream.c, shm_fast.c) run on every received header before touching a
 * payload). Input: the 24-byte header, then what the receive posted here
 * expects: u32 sequence number, u32 step, u16 micro, u16 kind, u64 capacity,
 * u64 largest message (missing bytes are 0). A header that passes must carry
 * exactly the expected sequence number and tag and a length the receive can
 * hold; a refused one must come with a message. */
#include "config.h"
#include "fuzz.h"

#include <errno.h>

#include "rdma/link.h"

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t in[DTP_FRAME_BYTES + 28] = { 0 }, back[DTP_FRAME_BYTES];
	const uint8_t *x = in + DTP_FRAME_BYTES;
	struct dtp_tag want;
	struct dtp_frame f;
	struct dtp_err err = { 0 };
	uint32_t seq;
	uint64_t cap, max_msg;
	int rc;

	memcpy(in, data, size < sizeof(in) ? size : sizeof(in));
	seq = (uint32_t)le(x, 4);
	want.step = (uint32_t)le(x + 4, 4);
	want.micro = (uint16_t)le(x + 8, 2);
	want.kind = (uint16_t)le(x + 10, 2);
	cap = le(x + 12, 8);
	max_msg = le(x + 20, 8);
	if (cap > SIZE_MAX || max_msg > SIZE_MAX)
		return 0;
	rc = dtp_frame_check(in, seq, &want, (size_t)cap, (size_t)max_msg, "peer stage 0 (node0:29500)",
			     &f, &err);
	if (rc) {
		FUZZ_CHECK_ERR(rc, err);
		FUZZ_CHECK(rc == -EPROTO);
		return 0;
	}
	FUZZ_CHECK(f.seq == seq && f.tag.step == want.step && f.tag.micro == want.micro &&
		   f.tag.kind == want.kind && f.len <= cap && f.len <= max_msg);
	dtp_frame_pack(f.seq, &f.tag, f.len, back);
	FUZZ_CHECK(memcmp(back, in, DTP_FRAME_BYTES) == 0);
	return 0;
}
