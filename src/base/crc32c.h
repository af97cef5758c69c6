/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * checkpoint tensors and manifests. zlib's crc32 is CRC-32/ISO-HDLC, another
 * polynomial; CRC-32C has a CPU instruction (SSE4.2) and is what iSCSI, ext4 and
 * many storage formats use, so other tools can check dtpipe's files.
 *
 * Chainable: dtp_crc32c(dtp_crc32c(0, a, na), b, nb) == dtp_crc32c(0, ab, na + nb).
 * Check value: dtp_crc32c(0, "123456789", 9) == 0xe3069283. */
#ifndef DTP_BASE_CRC32C_H
#define DTP_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* the SSE4.2 instruction where the CPU has it, else the table */
uint32_t dtp_crc32c(uint32_t crc, const void *buf, size_t n);
/* the portable table version (the same results; tests compare the two) */
uint32_t dtp_crc32c_portable(uint32_t crc, const void *buf, size_t n);

#endif
