#ifndef CNETLINK_H
#define CNETLINK_H
// Only what Swift cannot import from libmnl and the kernel headers: function-like macros,
// and entering a network namespace on the calling thread only.
#include <stddef.h>
#include <stdint.h>

/// Opens socket(domain, type, protocol) inside the network namespace at `netns_path`
/// (e.g. /run/netns/NAME), returning to the caller's namespace before it returns.
/// Returns the fd, or -errno. Runs entirely on the calling thread.
int cnl_socket_in_netns(const char *netns_path, int domain, int type, int protocol);

/// MNL_SOCKET_BUFFER_SIZE.
size_t cnl_socket_buffer_size(void);

#endif
