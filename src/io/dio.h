/* Internal to src/io: streaming O_DIRECT file I/O through a few aligned
 * staging buffers and io_uring (the safetensors writer and reader).
 *
 * Why: a checkpoint written through the page cache costs the kernel's copy
 * into it and is throttled by dirty write-back while it runs; read back, it
 * costs the copy out of it. Here the bytes go once through a staging buffer
 * (the user copy, with the CRC-32C of the same bytes while they are in
 * cache) and the device reads or writes the buffer by DMA, DTP_DIO_QD
 * requests in flight while the CPU fills or drains the next.
 *
 * Writing: dtp_dio_wopen on a descriptor opened for writing turns O_DIRECT
 * on (-EINVAL when the file system refuses it: the caller writes buffered);
 * dtp_dio_write appends bytes at file offset `off` (a DTP_IO_ALIGN multiple)
 * onwards; dtp_dio_wclose writes the last partial block padded with zeros to
 * DTP_IO_ALIGN (the caller truncates the file to its size), waits for every
 * write and turns O_DIRECT off again. An error (-errno) from a write is
 * returned by the call that sees it; -EINVAL from the first write means the
 * file system refused the request (fall back to buffered writes).
 *
 * Reading: dtp_dio_ropen opens `path` again with O_DIRECT (-EINVAL when
 * refused); dtp_dio_read copies [off, off + n) into dst with its CRC-32C,
 * reading ahead sequentially from there, so that consecutive calls over a
 * file cost one pass. */
#ifndef DTP_IO_DIO_H
#define DTP_IO_DIO_H

#include <stddef.h>
#include <stdint.h>

/* requests in flight, and the most bytes a request: on the VM's virtio disk
 * (4 MiB the largest request, 8 MiB read-ahead) one 4 MiB O_DIRECT read at a
 * time ran at 660 MB/s, a page-cache read at 980 MB/s; eight in flight keep
 * the device busy while the CPU copies. A file smaller than QD x BLOCK gets
 * smaller requests (its size over QD, 4 KiB-aligned). */
#define DTP_DIO_QD 8
#define DTP_DIO_BLOCK ((size_t)4 << 20)
/* the most staging memory one open stream holds (dtp_io_alloc: touched) */
#define DTP_DIO_STAGING (DTP_DIO_QD * DTP_DIO_BLOCK)

struct dtp_dio;

/* total: the bytes that will be written (sizes the staging buffers) */
int dtp_dio_wopen(struct dtp_dio **out, int fd, uint64_t off, uint64_t total);
int dtp_dio_write(struct dtp_dio *d, const void *src, size_t n, uint32_t *crc);
/* waits for every write; frees d (also after an error) */
int dtp_dio_wclose(struct dtp_dio *d);

/* file_size: the readable bytes (reads stop there) */
int dtp_dio_ropen(struct dtp_dio **out, const char *path, uint64_t file_size);
/* -EBADMSG when the file ends before off + n */
int dtp_dio_read(struct dtp_dio *d, uint64_t off, void *dst, size_t n, uint32_t *crc);
void dtp_dio_rclose(struct dtp_dio *d);

#endif
