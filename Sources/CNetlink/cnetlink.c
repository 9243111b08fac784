#define _GNU_SOURCE
#include "cnetlink.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>
#include <libmnl/libmnl.h>

int cnl_socket_in_netns(const char *netns_path, int domain, int type, int protocol) {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return -errno;
    int target = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (target < 0) { int e = errno; close(self); return -e; }
    if (setns(target, CLONE_NEWNET) < 0) { int e = errno; close(target); close(self); return -e; }
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    int socket_errno = fd < 0 ? errno : 0;
    // Going back must not fail silently: a thread left in another namespace would be a disaster.
    if (setns(self, CLONE_NEWNET) < 0) abort();
    close(target);
    close(self);
    return fd < 0 ? -socket_errno : fd;
}

size_t cnl_socket_buffer_size(void) { return MNL_SOCKET_BUFFER_SIZE; }
