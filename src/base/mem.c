#include "config.h"
#include "base/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* the transparent-huge-page advice for len bytes at p (a huge page
 * boundary): only from DTP_HUGE_PAGE up to DTP_HUGE_MAX (see mem.h) */
static void advise_huge(void *p, size_t len)
{
	if (len >= DTP_HUGE_PAGE && len <= DTP_HUGE_MAX)
		(void)madvise(p, len, MADV_HUGEPAGE);
}

void *dtp_map_huge(size_t len)
{
	size_t head, tail;
	char *p, *a;

	if (len < DTP_HUGE_PAGE) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	/* map a huge page more than asked, keep the aligned part */
	p = mmap(NULL, len + DTP_HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (char *)dtp_align_up((uintptr_t)p, DTP_HUGE_PAGE);
	head = (size_t)(a - p);
	tail = DTP_HUGE_PAGE - head;
	if (head)
		munmap(p, head);
	if (tail)
		munmap(a + len, tail);
	advise_huge(a, len);
	return a;
}

size_t dtp_mapped_bytes(size_t bytes)
{
	size_t size = dtp_align_up(bytes ? bytes : 1, DTP_PAGE);

	return size >= DTP_HUGE_PAGE ? dtp_align_up(size, DTP_HUGE_PAGE) : size;
}

void *dtp_alloc_aligned(size_t bytes, size_t align)
{
	void *p = NULL;
	size_t len;

	if (bytes == 0)
		bytes = 1;
	if (bytes >= DTP_HUGE_PAGE && align < DTP_HUGE_PAGE)
		align = DTP_HUGE_PAGE;   /* see dtp_map_huge */
	len = dtp_align_up(bytes, align);   /* from DTP_HUGE_PAGE up: dtp_mapped_bytes */
	if (posix_memalign(&p, align, len) != 0)
		return NULL;
	advise_huge(p, len);
	memset(p, 0, bytes);
	return p;
}

void dtp_free(void *p)
{
	free(p);
}

int dtp_arena_init(struct dtp_arena *a, size_t bytes)
{
	size_t size = dtp_mapped_bytes(bytes);
	void *p = dtp_map_huge(size);

	if (!p)
		return -ENOMEM;
	a->base = p;
	a->size = size;
	a->used = 0;
	return 0;
}

void *dtp_arena_take(struct dtp_arena *a, size_t bytes, size_t align)
{
	size_t off = dtp_align_up(a->used, align);

	if (off > a->size || bytes > a->size - off)
		return NULL;
	a->used = off + bytes;
	return a->base + off;
}

void dtp_arena_release(struct dtp_arena *a)
{
	if (a->base)
		munmap(a->base, a->size);
	a->base = NULL;
	a->size = a->used = 0;
}

const char *dtp_fmt_bytes(double bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = 0;

	while (bytes >= 1024.0 && u < 5) {
		bytes /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", bytes);
	else
		snprintf(buf, len, "%.1f %s", bytes, unit[u]);
	return buf;
}
