/* Wire formats shared by every transport: the connection handshake (hello)
 * and the frame header of the byte-stream transports (docs/wire-protocol.md). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rdma/link.h"
#include "model/model.h"

void dtp_link_peer_desc(const struct dtp_link_config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "peer stage %d (%s:%d)", cfg->peer_stage, cfg->host, cfg->port);
}

void dtp_hello_pack(const struct dtp_link_config *cfg, uint8_t out[DTP_HELLO_BYTES])
{
	dtp_put_le32(out + 0, DTP_PROTO_MAGIC);
	dtp_put_le16(out + 4, (uint16_t)DTP_PROTO_VERSION);
	out[6] = (uint8_t)cfg->kind;
	out[7] = (uint8_t)cfg->precision;
	dtp_put_le64(out + 8, cfg->job_key);
	dtp_put_le32(out + 16, (uint32_t)cfg->self_stage);
	dtp_put_le32(out + 20, (uint32_t)cfg->peer_stage);
	dtp_put_le64(out + 24, cfg->plan_hash);
}

int dtp_hello_check(const struct dtp_link_config *cfg, const uint8_t *buf, size_t len,
		    struct dtp_hello *out, struct dtp_err *err)
{
	struct dtp_hello h;
	int self = cfg->self_stage;

	if (len < DTP_HELLO_BYTES)
		return dtp_errf_runtime(err, -EPROTO,
					"stage %d: handshake from the peer is %zu bytes, expected %d: "
					"not a dtpipe peer, or a truncated connection; check that %s:%d "
					"belongs to this job", self, len, DTP_HELLO_BYTES, cfg->host, cfg->port);
	h.magic = dtp_le32(buf + 0);
	h.version = dtp_le16(buf + 4);
	h.transport = buf[6];
	h.precision = buf[7];
	h.job_key = dtp_le64(buf + 8);
	h.from_stage = dtp_le32(buf + 16);
	h.to_stage = dtp_le32(buf + 20);
	h.plan_hash = dtp_le64(buf + 24);
	if (h.magic != DTP_PROTO_MAGIC)
		return dtp_errf_runtime(err, -EPROTO,
					"stage %d: handshake magic is 0x%08" PRIx32 ", expected 0x%08x: "
					"the other end is not a dtpipe stage (a stranger on port %d?); "
					"check the plan's host:port for stage %d",
					self, h.magic, DTP_PROTO_MAGIC, cfg->port, cfg->peer_stage);
	if (h.version != DTP_PROTO_VERSION)
		return dtp_errf_input(err, -EPROTO,
				      "stage %d: peer speaks protocol version %u, this build "
				      "speaks %u: run the same dtpipe build on every stage",
				      self, (unsigned)h.version, DTP_PROTO_VERSION);
	if (h.transport != (uint16_t)cfg->kind)
		return dtp_errf_input(err, -EPROTO,
				      "stage %d: peer stage %d chose transport %s for this link, this "
				      "side %s: both ends of a link must use the same one; set "
				      "[transport] kind (or --transport) explicitly, or give every stage "
				      "its host in the plan", self, cfg->peer_stage,
				      dtp_transport_kind_name((enum dtp_transport_kind)h.transport),
				      dtp_transport_kind_name(cfg->kind));
	if (h.precision != (uint8_t)cfg->precision)
		return dtp_errf_input(err, -EPROTO,
				      "stage %d: peer stage %d runs precision %s, this stage %s: "
				      "every stage of a job must use the same one; set [train] "
				      "precision (or --precision) alike on all", self, cfg->peer_stage,
				      dtp_precision_name((enum dtp_precision)h.precision),
				      dtp_precision_name((enum dtp_precision)cfg->precision));
	if (h.job_key != cfg->job_key)
		return dtp_errf_input(err, -EPROTO,
				      "stage %d: peer's job key is 0x%016" PRIx64 ", ours is 0x%016" PRIx64
				      ": the peer belongs to another job; start every stage with the "
				      "same job key", self, h.job_key, cfg->job_key);
	if (h.plan_hash != cfg->plan_hash)
		return dtp_errf_input(err, -EPROTO,
				      "stage %d: peer's plan hash is 0x%016" PRIx64 ", ours is 0x%016"
				      PRIx64 ": the stages loaded different plans; give every stage "
				      "the same plan file", self, h.plan_hash, cfg->plan_hash);
	if (h.from_stage != (uint32_t)cfg->peer_stage || h.to_stage != (uint32_t)self)
		return dtp_errf_input(err, -EPROTO,
				      "stage %d: peer says it is stage %" PRIu32 " talking to stage %"
				      PRIu32 ", expected stage %d talking to stage %d: check the "
				      "stage numbers (--stage / launcher rank) and the ports in the plan",
				      self, h.from_stage, h.to_stage, cfg->peer_stage, self);
	if (out)
		*out = h;
	return 0;
}

void dtp_frame_pack(uint32_t seq, const struct dtp_tag *tag, uint64_t len,
		    uint8_t out[DTP_FRAME_BYTES])
{
	dtp_put_le32(out + 0, DTP_FRAME_MAGIC);
	dtp_put_le32(out + 4, seq);
	dtp_put_le32(out + 8, tag->step);
	dtp_put_le16(out + 12, tag->micro);
	dtp_put_le16(out + 14, tag->kind);
	dtp_put_le64(out + 16, len);
}

int dtp_frame_check(const uint8_t hdr[DTP_FRAME_BYTES], uint32_t expect_seq,
		    const struct dtp_tag *want, size_t cap, size_t max_msg,
		    const char *peer, struct dtp_frame *out, struct dtp_err *err)
{
	struct dtp_frame f;
	uint32_t magic = dtp_le32(hdr);

	if (magic != DTP_FRAME_MAGIC)
		return dtp_errf_runtime(err, -EPROTO,
					"%s: corrupt frame header (magic 0x%08" PRIx32 ", expected 0x%08x) "
					"while expecting tag (step %" PRIu32 ", micro %u, kind %u): the "
					"stream is out of sync; restart the job", peer, magic,
					DTP_FRAME_MAGIC, want->step, want->micro, want->kind);
	f.seq = dtp_le32(hdr + 4);
	f.tag.step = dtp_le32(hdr + 8);
	f.tag.micro = dtp_le16(hdr + 12);
	f.tag.kind = dtp_le16(hdr + 14);
	f.len = dtp_le64(hdr + 16);
	if (f.seq != expect_seq)
		return dtp_errf_runtime(err, -EPROTO,
					"%s: frame sequence number %" PRIu32 ", expected %" PRIu32
					": messages were lost or duplicated; restart the job",
					peer, f.seq, expect_seq);
	if (f.tag.step != want->step || f.tag.micro != want->micro || f.tag.kind != want->kind)
		return dtp_errf_runtime(err, -EPROTO,
					"%s sent tag (step %" PRIu32 ", micro %u, kind %u) but the "
					"receive posted here expects (step %" PRIu32 ", micro %u, kind %u): "
					"the two stages run different schedules",
					peer, f.tag.step, f.tag.micro, f.tag.kind,
					want->step, want->micro, want->kind);
	if (f.len > cap || f.len > max_msg)
		return dtp_errf_runtime(err, -EPROTO,
					"%s sent %" PRIu64 " bytes for tag (step %" PRIu32 ", micro %u, "
					"kind %u) but the receive posted here holds %zu (largest message "
					"%zu): the stages disagree on tensor shapes",
					peer, f.len, f.tag.step, f.tag.micro, f.tag.kind, cap, max_msg);
	if (out)
		*out = f;
	return 0;
}
