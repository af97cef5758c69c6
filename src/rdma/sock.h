/* Internal to src/rdma: how two stages find each other over TCP (sock.c),
 * for the tcp transport and the shm rendezvous. The listener refuses
 * strangers (logging why) and keeps waiting until the deadline; the connector
 * retries until the deadline. Both exchange and check the handshake (link.h)
 * and return a connected, tuned socket. */
#ifndef DTP_RDMA_SOCK_H
#define DTP_RDMA_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include "rdma/link.h"

int dtp_sock_accept_peer(const struct dtp_link_config *cfg, int *fd_out, struct dtp_err *err);
int dtp_sock_connect_peer(const struct dtp_link_config *cfg, int *fd_out, struct dtp_err *err);
/* blocking helpers with a deadline (dtp_now_ns() clock); 0, -ETIMEDOUT, -ECONNRESET */
int dtp_sock_read_full(int fd, void *buf, size_t n, uint64_t deadline_ns);
int dtp_sock_write_full(int fd, const void *buf, size_t n, uint64_t deadline_ns);

#endif
