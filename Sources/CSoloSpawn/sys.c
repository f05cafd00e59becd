// Wrappers for Linux calls that Swift's Glibc module does not import (epoll, signalfd, pipe2,
// prctl) or cannot call (variadic fcntl), each returning 0 or an errno.
#define _GNU_SOURCE 1
#include "CSoloSpawn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <stddef.h>
#include <unistd.h>

int solo_parse_stat(const char *text, struct solo_stat *out) {
    int64_t pid = 0;
    const char *digit = text;
    while (*digit >= '0' && *digit <= '9') pid = pid * 10 + (*digit++ - '0');
    if (digit == text || *digit != ' ') return -1;
    out->pid = (int32_t)pid;
    const char *close = strrchr(text, ')');
    if (!close || close[1] != ' ' || !close[2]) return -1;
    out->state = close[2];
    // Fields 4 (ppid) to 22 (starttime), space-separated, after ") S ".
    const char *p = close + 3;
    int64_t values[23] = {0};
    for (int field = 4; field <= 22; field++) {
        if (*p != ' ') return -1;
        p++;
        int negative = 0;
        if (*p == '-') { negative = 1; p++; }
        if (*p < '0' || *p > '9') return -1;
        int64_t value = 0;
        while (*p >= '0' && *p <= '9') value = value * 10 + (*p++ - '0');
        values[field] = negative ? -value : value;
    }
    out->parent = (int32_t)values[4];
    out->group = (int32_t)values[5];
    out->session = (int32_t)values[6];
    out->start_time = (uint64_t)values[22];
    return 0;
}

int solo_epoll_create(int *fd) {
    int r = epoll_create1(EPOLL_CLOEXEC);
    if (r < 0) return errno;
    *fd = r;
    return 0;
}

static int control(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = events;
    event.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &event) == 0 ? 0 : errno;
}

int solo_epoll_add(int epfd, int fd, uint32_t events, uint64_t token) {
    return control(epfd, EPOLL_CTL_ADD, fd, events, token);
}

int solo_epoll_modify(int epfd, int fd, uint32_t events, uint64_t token) {
    return control(epfd, EPOLL_CTL_MOD, fd, events, token);
}

int solo_epoll_remove(int epfd, int fd) {
    struct epoll_event unused;
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &unused) == 0 ? 0 : errno;
}

int solo_epoll_wait(int epfd, struct solo_event *events, int max, int timeout_ms) {
    struct epoll_event raw[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, raw, max, timeout_ms);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        events[i].events = raw[i].events;
        events[i].token = raw[i].data.u64;
    }
    return n;
}

static void fill(sigset_t *set, const int *signals, int count) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) sigaddset(set, signals[i]);
}

int solo_block_signals(const int *signals, int count) {
    sigset_t set;
    fill(&set, signals, count);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int solo_reset_signal_mask(void) {
    sigset_t empty;
    sigemptyset(&empty);
    return pthread_sigmask(SIG_SETMASK, &empty, NULL);
}

int solo_ignore_signal(int signal) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_IGN;
    return sigaction(signal, &action, NULL) == 0 ? 0 : errno;
}

int solo_signalfd(const int *signals, int count, int *fd) {
    sigset_t set;
    fill(&set, signals, count);
    int r = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (r < 0) return errno;
    *fd = r;
    return 0;
}

int solo_signalfd_read(int fd, int *signo, pid_t *sender) {
    struct signalfd_siginfo info;
    for (;;) {
        ssize_t got = read(fd, &info, sizeof info);
        if (got == (ssize_t)sizeof info) {
            *signo = (int)info.ssi_signo;
            *sender = (pid_t)info.ssi_pid;
            return 1;
        }
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) return 0;
        return got < 0 ? -errno : -EIO;
    }
}

int solo_inotify_init(int *fd) {
    int r = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r < 0) return errno;
    *fd = r;
    return 0;
}

int solo_inotify_watch(int fd, const char *path, uint32_t mask, int *wd) {
    int r = inotify_add_watch(fd, path, mask);
    if (r < 0) return errno;
    *wd = r;
    return 0;
}

int solo_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}

int solo_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return errno;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 ? 0 : errno;
}

int solo_set_cloexec(int fd, int on) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return errno;
    flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, flags) == 0 ? 0 : errno;
}

int solo_read_syscall_number(void) {
    return SYS_read;
}

int solo_open_directory(int parent, const char *name, int *fd) {
    int r = openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (r < 0) return errno;
    *fd = r;
    return 0;
}

int solo_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : errno;
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int solo_pidfd_open(pid_t pid, int *fd) {
    long r = syscall(SYS_pidfd_open, pid, 0);
    if (r < 0) return errno;
    *fd = (int)r;
    return 0;
}

int solo_bind_lock(uint32_t addr, uint16_t port, int cloexec, int *fd) {
    int s = socket(AF_INET, SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0), 0);
    if (s < 0) return errno;
    // Deliberately no SO_REUSEADDR: with it, a contender that also sets it could bind the
    // same address while we hold it (notes/swift-linux.md section 6).
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(addr);
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int saved = errno;
        close(s);
        return saved;
    }
    *fd = s;
    return 0;
}

int solo_tcp_listen(uint32_t addr, uint16_t port, int *fd) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    // A server, unlike the lock: a restart must not fail on the last run's TIME_WAIT sockets.
    int on = 1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(addr);
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 64) != 0) {
        int saved = errno;
        close(s);
        return saved;
    }
    *fd = s;
    return 0;
}

int solo_tcp_connect(uint32_t addr, uint16_t port, int *fd) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    // Commands are small and answered one by one: Nagle's delay would add 40 ms to some.
    int on = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    // A peer that vanished (a host powered off) is noticed even on an idle connection.
    setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    int idle = 10, interval = 5, count = 3;
    setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(addr);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(s);
        return saved;
    }
    *fd = s;
    return 0;
}

int solo_socket_error(int fd, int *error) {
    socklen_t length = sizeof *error;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, error, &length) == 0 ? 0 : errno;
}

int solo_resolve_ipv4(const char *name, uint32_t *addr) {
    struct in_addr literal;
    if (inet_pton(AF_INET, name, &literal) == 1) {
        *addr = ntohl(literal.s_addr);
        return 0;
    }
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int result = getaddrinfo(name, NULL, &hints, &found);
    if (result != 0 || found == NULL) return result == EAI_SYSTEM ? errno : -1;
    *addr = ntohl(((struct sockaddr_in *)found->ai_addr)->sin_addr.s_addr);
    freeaddrinfo(found);
    return 0;
}

struct resolve_job {
    char name[256];
    int fd;
};

static void *resolve_thread(void *argument) {
    struct resolve_job *job = argument;
    uint32_t addr = 0;
    int32_t answer[2];
    answer[0] = solo_resolve_ipv4(job->name, &addr);
    answer[1] = (int32_t)addr;
    // 8 bytes on a pipe: written whole, or the reader sees EOF and takes it as a failure.
    ssize_t ignored = write(job->fd, answer, sizeof answer);
    (void)ignored;
    close(job->fd);
    free(job);
    return NULL;
}

int solo_resolve_ipv4_async(const char *name, int fd) {
    if (strlen(name) >= sizeof ((struct resolve_job *)0)->name) return ENAMETOOLONG;
    struct resolve_job *job = malloc(sizeof *job);
    if (job == NULL) return ENOMEM;
    strcpy(job->name, name);
    job->fd = fd;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int result = pthread_create(&thread, &attributes, resolve_thread, job);
    pthread_attr_destroy(&attributes);
    if (result != 0) free(job);
    return result;
}

int solo_socket_address(int fd, uint32_t *addr, uint16_t *port) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) return errno;
    if (sa.sin_family != AF_INET) return EAFNOSUPPORT;
    *addr = ntohl(sa.sin_addr.s_addr);
    *port = ntohs(sa.sin_port);
    return 0;
}

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

int solo_process_socket_address(int pid, int fd, uint32_t *addr, uint16_t *port, uint32_t *uid) {
    int pidfd;
    int error = solo_pidfd_open(pid, &pidfd);
    if (error) return error;
    int copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    error = copy < 0 ? errno : 0;
    close(pidfd);
    if (error) return error;
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    struct stat info;
    if (fstat(copy, &info) != 0 || !S_ISSOCK(info.st_mode)) {
        error = ENOTSOCK;
    } else if (getsockname(copy, (struct sockaddr *)&sa, &len) != 0) {
        error = errno;
    } else if (sa.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&sa;
        *addr = ntohl(in->sin_addr.s_addr);
        *port = ntohs(in->sin_port);
    } else if (sa.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            uint32_t v4;
            memcpy(&v4, &in6->sin6_addr.s6_addr[12], 4);
            *addr = ntohl(v4);
        } else if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) {
            *addr = 0;
        } else {
            error = EAFNOSUPPORT;
        }
        *port = ntohs(in6->sin6_port);
    } else {
        error = EAFNOSUPPORT;
    }
    if (!error) *uid = info.st_uid;
    close(copy);
    return error;
}

static int unix_address(const char *path, struct sockaddr_un *address) {
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address->sun_path) return ENAMETOOLONG;
    strcpy(address->sun_path, path);
    return 0;
}

// What is at `path` goes only if it is a socket nobody listens on: a file, a directory or a live
// socket (a PHP-FPM's, another program's) is never removed. EEXIST: not a socket; EADDRINUSE:
// something listens there.
static int remove_stale_socket(const char *path, const struct sockaddr_un *address) {
    struct stat status;
    if (lstat(path, &status) != 0) return errno == ENOENT ? 0 : errno;
    if (!S_ISSOCK(status.st_mode)) return EEXIST;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) return errno;
    int connected = connect(probe, (const struct sockaddr *)address, sizeof *address);
    int saved = errno;
    close(probe);
    // Only a refused connection proves nobody listens. Accepted, a full backlog (EAGAIN), or a
    // live socket of another type (EPROTOTYPE: /dev/log, journald's): someone serves it. Any
    // other failure (EACCES: a socket solo's user may not reach) proves nothing: left alone.
    if (connected != 0 && saved == ENOENT) return 0;
    if (connected == 0 || saved == EAGAIN || saved == EPROTOTYPE) return EADDRINUSE;
    if (saved != ECONNREFUSED) return saved;
    if (unlink(path) != 0 && errno != ENOENT) return errno;
    return 0;
}

int solo_unix_listen(const char *path, int *fd) {
    struct sockaddr_un address;
    int r = unix_address(path, &address);
    if (r) return r;
    r = remove_stale_socket(path, &address);
    if (r) return r;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    // 0600 from the start: no moment in which another user could connect.
    mode_t old = umask(0177);
    int bound = bind(s, (struct sockaddr *)&address, sizeof address);
    int saved = errno;
    umask(old);
    if (bound != 0 || listen(s, 64) != 0) {
        if (bound == 0) saved = errno;
        close(s);
        return saved;
    }
    *fd = s;
    return 0;
}

int solo_accept(int fd, int *client) {
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return errno;
    *client = c;
    return 0;
}

int solo_peer_credentials(int fd, uint32_t *uid, uint32_t *gid, int32_t *pid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return errno;
    *uid = credentials.uid;
    *gid = credentials.gid;
    *pid = credentials.pid;
    return 0;
}

static int unix_connect(const char *path, int flags, int *fd) {
    struct sockaddr_un address;
    int r = unix_address(path, &address);
    if (r) return r;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (s < 0) return errno;
    if (connect(s, (struct sockaddr *)&address, sizeof address) != 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(s);
        return saved;
    }
    *fd = s;
    return 0;
}

int solo_unix_connect(const char *path, int *fd) {
    return unix_connect(path, 0, fd);
}

int solo_unix_connect_start(const char *path, int *fd) {
    return unix_connect(path, SOCK_NONBLOCK, fd);
}

int solo_inet_connect(const char *literal, uint16_t port, int *fd) {
    struct sockaddr_storage sa;
    socklen_t size;
    memset(&sa, 0, sizeof sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sa;
    if (inet_pton(AF_INET, literal, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        size = sizeof *v4;
    } else if (inet_pton(AF_INET6, literal, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        size = sizeof *v6;
    } else {
        return EINVAL;
    }
    int s = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    // A request is written whole, then answered: Nagle's delay would only add to it.
    int on = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (connect(s, (struct sockaddr *)&sa, size) != 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(s);
        return saved;
    }
    *fd = s;
    return 0;
}

int solo_unix_datagram(const char *path, const char *message, int length) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof address.sun_path) return ENAMETOOLONG;
    memcpy(address.sun_path, path, n);
    if (path[0] == '@') address.sun_path[0] = 0;
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    ssize_t sent = sendto(s, message, (size_t)length, MSG_NOSIGNAL, (struct sockaddr *)&address, size);
    int saved = errno;
    close(s);
    return sent == length ? 0 : saved;
}

void solo_release_free_memory(void) { malloc_trim(0); }
