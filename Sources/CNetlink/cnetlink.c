#define _GNU_SOURCE
#include "cnetlink.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <stdlib.h>
#include <unistd.h>
#include <libmnl/libmnl.h>

// Runs between entering and leaving the namespace; returns an fd or -errno.
typedef int (*cnl_in_netns_fn)(void *arg);

static int cnl_in_netns(const char *netns_path, cnl_in_netns_fn fn, void *arg) {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return -errno;
    int target = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (target < 0) { int e = errno; close(self); return -e; }
    if (setns(target, CLONE_NEWNET) < 0) { int e = errno; close(target); close(self); return -e; }
    int result = fn(arg);
    // Going back must not fail silently: a thread left in another namespace would be a disaster.
    if (setns(self, CLONE_NEWNET) < 0) abort();
    close(target);
    close(self);
    return result;
}

struct cnl_socket_args { int domain, type, protocol; };

static int cnl_do_socket(void *p) {
    struct cnl_socket_args *a = p;
    int fd = socket(a->domain, a->type | SOCK_CLOEXEC, a->protocol);
    return fd < 0 ? -errno : fd;
}

int cnl_socket_in_netns(const char *netns_path, int domain, int type, int protocol) {
    struct cnl_socket_args a = { domain, type, protocol };
    return cnl_in_netns(netns_path, cnl_do_socket, &a);
}

struct cnl_open_args { const char *path; int flags; };

static int cnl_do_open(void *p) {
    struct cnl_open_args *a = p;
    int fd = open(a->path, a->flags | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cnl_open_in_netns(const char *netns_path, const char *file_path, int flags) {
    struct cnl_open_args a = { file_path, flags };
    return cnl_in_netns(netns_path, cnl_do_open, &a);
}

// iproute2's netns_add: /run/netns must be a shared mount so that namespaces mounted there
// propagate to other mount namespaces; if it is not a mount point yet, bind it onto itself.
static int cnl_prepare_run_dir(const char *run_dir) {
    if (mkdir(run_dir, 0755) < 0 && errno != EEXIST) return -errno;
    int bound = 0;
    while (mount("", run_dir, "none", MS_SHARED | MS_REC, NULL) < 0) {
        if (errno != EINVAL || bound) return -errno;
        if (mount(run_dir, run_dir, "none", MS_BIND | MS_REC, NULL) < 0) return -errno;
        bound = 1;
    }
    return 0;
}

struct cnl_create_args { const char *path; int result; };

static void *cnl_create_thread(void *p) {
    struct cnl_create_args *a = p;
    // This thread exists only to be moved into the new namespace; it ends right after.
    if (unshare(CLONE_NEWNET) < 0) { a->result = -errno; return NULL; }
    if (mount("/proc/thread-self/ns/net", a->path, "none", MS_BIND, NULL) < 0) { a->result = -errno; return NULL; }
    a->result = 0;
    return NULL;
}

// Once per process: making /run/netns shared walks every mount below it (MS_REC), which with
// hundreds of namespaces mounted there costs more than creating one.
static _Atomic int cnl_run_dir_prepared;

#define CNL_NSFS_MAGIC 0x6e736673

int cnl_netns_is_namespace(const char *path) {
    struct statfs s;
    if (statfs(path, &s) < 0) return -errno;
    return s.f_type == CNL_NSFS_MAGIC ? 1 : 0;
}

int cnl_netns_create(const char *run_dir, const char *name) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", run_dir, name) >= (int)sizeof path) return -ENAMETOOLONG;
    if (!cnl_run_dir_prepared) {
        int r = cnl_prepare_run_dir(run_dir);
        if (r < 0) return r;
        cnl_run_dir_prepared = 1;
    }
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0 && errno == EEXIST && cnl_netns_is_namespace(path) == 0) {
        // The empty file of a create interrupted before its mount (a killed agent): no
        // namespace lives there, so it is replaced.
        if (unlink(path) < 0) return -errno;
        fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    }
    if (fd < 0) return -errno;
    close(fd);
    struct cnl_create_args a = { path, -EINVAL };
    pthread_t thread;
    int e = pthread_create(&thread, NULL, cnl_create_thread, &a);
    if (e != 0) { unlink(path); return -e; }
    pthread_join(thread, NULL);
    if (a.result < 0) unlink(path);
    return a.result;
}

int cnl_netns_delete(const char *run_dir, const char *name) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", run_dir, name) >= (int)sizeof path) return -ENAMETOOLONG;
    // Like iproute2: a failed unmount (not mounted) still lets the unlink report the real state.
    umount2(path, MNT_DETACH);
    if (unlink(path) < 0) return -errno;
    return 0;
}

size_t cnl_socket_buffer_size(void) { return MNL_SOCKET_BUFFER_SIZE; }
