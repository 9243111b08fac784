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

/// open(file_path, flags) from inside the network namespace at `netns_path`, on the calling
/// thread only. /proc/sys/net files opened this way stay bound to that namespace.
/// Returns the fd, or -errno.
int cnl_open_in_netns(const char *netns_path, const char *file_path, int flags);

/// Creates a network namespace the way `ip netns add` does: makes `run_dir` a shared mount
/// (once), creates `run_dir/name` and bind-mounts a fresh namespace onto it. The namespace is
/// created on a throwaway thread, so no thread of the caller ever changes namespace.
/// Returns 0 or -errno.
int cnl_netns_create(const char *run_dir, const char *name);

/// 1 when path is a namespace (an nsfs bind mount, as `ip netns add` and cnl_netns_create make),
/// 0 when it is anything else (the empty file a create interrupted before its mount leaves; an
/// existing one is replaced by cnl_netns_create), -errno when it cannot be read.
int cnl_netns_is_namespace(const char *path);

/// Undoes cnl_netns_create: lazy unmount and unlink, like `ip netns delete`. Returns 0 or -errno.
int cnl_netns_delete(const char *run_dir, const char *name);

/// MNL_SOCKET_BUFFER_SIZE.
size_t cnl_socket_buffer_size(void);

#endif
