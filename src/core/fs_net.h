/*
 * fs_net.h -- socket addresses for the servers (--hep, --metrics): kept out
 * of fs_core.h so that <sys/socket.h> does not reach every file.
 * Implemented in fs_core.c.
 */
#ifndef FS_NET_H
#define FS_NET_H

#include <sys/socket.h>

#include "fs_core.h"

/* A listening address, "ADDR:PORT", "[V6]:PORT" or ":PORT" (every IPv4
 * address), as a socket address to bind; port 0 (the kernel picks one)
 * only when zero_port. NULL, or what is wrong with it (for a message that
 * names the option). */
const char *fs_listen_parse(const char *spec, bool zero_port, struct sockaddr_storage *ss, socklen_t *sl);

#endif
