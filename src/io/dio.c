/* Streaming O_DIRECT file I/O through aligned staging buffers and io_uring
 * (dio.h). Calls: fcntl F_SETFL O_DIRECT, io_uring_queue_init,
 * io_uring_get_sqe, io_uring_prep_write / _read, io_uring_submit,
 * io_uring_wait_cqe, io_uring_cqe_seen. */
#include "config.h"
#include "io/dio.h"
#include "io/io.h"
#include "io/ring.h"
#include "base/crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the copy and the CRC go in pieces that stay in the L2 cache */
#define DIO_PIECE ((size_t)64 << 10)

struct dio_buf {
	uint64_t off;        /* file offset of the buffer's first byte */
	size_t len;          /* bytes asked */
	int busy;            /* submitted, not completed */
	int res;             /* the completion's result */
};

struct dtp_dio {
	struct io_uring ring;
	int fd, flags;       /* writing: the descriptor's flags before O_DIRECT */
	int reading;
	uint8_t *mem;        /* DTP_DIO_QD x block */
	size_t block;        /* bytes a buffer: at most DTP_DIO_BLOCK */
	struct dio_buf b[DTP_DIO_QD];
	int inflight;
	int err;             /* the first failed write (-errno) */
	/* writing: the buffer being filled (-1 none) and its bytes */
	int cur;
	size_t fill;
	uint64_t next;       /* file offset of the next request */
	/* reading: a FIFO of buffers from head, in file order */
	int head, used;
	uint64_t size;
};

/* dst <- src, and the CRC-32C of the bytes while they are in cache */
static uint32_t copy_crc(uint8_t *dst, const uint8_t *src, size_t n, uint32_t crc)
{
	for (size_t done = 0; done < n;) {
		size_t c = n - done < DIO_PIECE ? n - done : DIO_PIECE;

		memcpy(dst + done, src + done, c);
		crc = dtp_crc32c(crc, dst + done, c);
		done += c;
	}
	return crc;
}

static uint8_t *buf_mem(struct dtp_dio *d, int i)
{
	return d->mem + (size_t)i * d->block;
}

/* buffers for a stream of `total` bytes */
static int dio_init(struct dtp_dio *d, uint64_t total)
{
	uint64_t per = (total + DTP_DIO_QD - 1) / DTP_DIO_QD;
	int r = io_uring_queue_init(DTP_DIO_QD, &d->ring, 0);

	if (r < 0)
		return r;
	d->block = per < DTP_DIO_BLOCK ? dtp_align_up(per ? (size_t)per : 1, DTP_IO_ALIGN)
				       : DTP_DIO_BLOCK;
	d->mem = dtp_io_alloc(DTP_DIO_QD * d->block);
	if (!d->mem) {
		io_uring_queue_exit(&d->ring);
		return -ENOMEM;
	}
	return 0;
}

static void dio_free(struct dtp_dio *d)
{
	io_uring_queue_exit(&d->ring);
	dtp_io_free(d->mem, DTP_DIO_QD * d->block);
	free(d);
}

static int submit(struct dtp_dio *d, int i, uint64_t off, size_t len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
	int r;

	if (!sqe)
		return -EBUSY;     /* cannot happen: at most DTP_DIO_QD in flight */
	if (d->reading)
		io_uring_prep_read(sqe, d->fd, buf_mem(d, i), (unsigned)len, off);
	else
		io_uring_prep_write(sqe, d->fd, buf_mem(d, i), (unsigned)len, off);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)i);
	r = io_uring_submit(&d->ring);
	if (r < 0)
		return r;
	d->b[i] = (struct dio_buf){ .off = off, .len = len, .busy = 1 };
	d->inflight++;
	return 0;
}

/* wait for one completion */
static int reap(struct dtp_dio *d)
{
	struct io_uring_cqe *cqe;
	struct dio_buf *b;
	int r;

	do
		r = io_uring_wait_cqe(&d->ring, &cqe);
	while (r == -EINTR);
	if (r < 0)
		return r;
	b = &d->b[(uintptr_t)io_uring_cqe_get_data(cqe)];
	b->res = cqe->res;
	b->busy = 0;
	d->inflight--;
	io_uring_cqe_seen(&d->ring, cqe);
	if (!d->reading && !d->err && b->res != (int)b->len)
		d->err = b->res < 0 ? b->res : -EIO;    /* a short write: the device is full */
	return 0;
}

static int wait_buf(struct dtp_dio *d, int i)
{
	while (d->b[i].busy) {
		int r = reap(d);

		if (r)
			return r;
	}
	return 0;
}

static int drain(struct dtp_dio *d)
{
	while (d->inflight) {
		int r = reap(d);

		if (r)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------- writing */

int dtp_dio_wopen(struct dtp_dio **out, int fd, uint64_t off, uint64_t total)
{
	struct dtp_dio *d;
	int fl = fcntl(fd, F_GETFL), r;

	*out = NULL;
	if (fl < 0 || off % DTP_IO_ALIGN)
		return -EINVAL;
	if (fcntl(fd, F_SETFL, fl | O_DIRECT) != 0)
		return -errno;
	d = calloc(1, sizeof(*d));
	r = d ? dio_init(d, total) : -ENOMEM;
	if (r) {
		free(d);
		(void)fcntl(fd, F_SETFL, fl);
		return r;
	}
	d->fd = fd;
	d->flags = fl;
	d->cur = -1;
	d->next = off;
	*out = d;
	return 0;
}

int dtp_dio_write(struct dtp_dio *d, const void *src, size_t n, uint32_t *crc)
{
	const uint8_t *p = src;

	while (n) {
		size_t c;
		int r;

		if (d->err)
			return d->err;
		if (d->cur < 0) {
			int i = 0;

			while (d->inflight == DTP_DIO_QD) {
				r = reap(d);
				if (r)
					return r;
			}
			while (d->b[i].busy)
				i++;
			d->cur = i;
			d->fill = 0;
		}
		c = d->block - d->fill < n ? d->block - d->fill : n;
		*crc = copy_crc(buf_mem(d, d->cur) + d->fill, p, c, *crc);
		d->fill += c;
		p += c;
		n -= c;
		if (d->fill == d->block) {
			r = submit(d, d->cur, d->next, d->block);
			if (r)
				return r;
			d->next += d->block;
			d->cur = -1;
		}
	}
	return d->err;
}

int dtp_dio_wclose(struct dtp_dio *d)
{
	int r = 0;

	if (d->cur >= 0 && d->fill && !d->err) {
		size_t len = dtp_align_up(d->fill, DTP_IO_ALIGN);

		memset(buf_mem(d, d->cur) + d->fill, 0, len - d->fill);
		r = submit(d, d->cur, d->next, len);
	}
	if (!r)
		r = drain(d);
	if (!r)
		r = d->err;
	if (fcntl(d->fd, F_SETFL, d->flags) != 0 && !r)
		r = -errno;
	dio_free(d);
	return r;
}

/* ------------------------------------------------------------- reading */

int dtp_dio_ropen(struct dtp_dio **out, const char *path, uint64_t file_size)
{
	struct dtp_dio *d;
	int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC), r;

	*out = NULL;
	if (fd < 0)
		return -errno;
	d = calloc(1, sizeof(*d));
	r = d ? dio_init(d, file_size) : -ENOMEM;
	if (r) {
		free(d);
		close(fd);
		return r;
	}
	d->fd = fd;
	d->reading = 1;
	d->size = file_size;
	*out = d;
	return 0;
}

int dtp_dio_read(struct dtp_dio *d, uint64_t off, void *dst, size_t n, uint32_t *crc)
{
	uint8_t *to = dst;

	while (n) {
		struct dio_buf *h;
		uint64_t have;
		size_t c;
		int r;

		/* the buffers wholly before off are done with */
		while (d->used && d->b[d->head].off + d->b[d->head].len <= off) {
			r = wait_buf(d, d->head);
			if (r)
				return r;
			d->head = (d->head + 1) % DTP_DIO_QD;
			d->used--;
		}
		if (d->used && off < d->b[d->head].off) {   /* backwards: start again */
			r = drain(d);
			if (r)
				return r;
			d->used = 0;
		}
		if (!d->used)
			d->next = off & ~(uint64_t)(DTP_IO_ALIGN - 1);
		while (d->used < DTP_DIO_QD && d->next < d->size) {
			uint64_t left = dtp_align_up(d->size - d->next, DTP_IO_ALIGN);
			size_t len = left < d->block ? (size_t)left : d->block;

			r = submit(d, (d->head + d->used) % DTP_DIO_QD, d->next, len);
			if (r)
				return r;
			d->next += len;
			d->used++;
		}
		if (!d->used)
			return -EBADMSG;            /* off is past the end */
		r = wait_buf(d, d->head);
		if (r)
			return r;
		h = &d->b[d->head];
		if (h->res < 0) {
			r = h->res;
			d->head = (d->head + 1) % DTP_DIO_QD;   /* read it again next time */
			d->used--;
			return r;
		}
		have = h->off + (uint64_t)h->res;
		if (off >= have)
			return -EBADMSG;            /* the file ended first */
		c = have - off < n ? (size_t)(have - off) : n;
		*crc = copy_crc(to, buf_mem(d, d->head) + (off - h->off), c, *crc);
		to += c;
		off += c;
		n -= c;
	}
	return 0;
}

void dtp_dio_rclose(struct dtp_dio *d)
{
	if (!d)
		return;
	(void)drain(d);
	close(d->fd);
	dio_free(d);
}
