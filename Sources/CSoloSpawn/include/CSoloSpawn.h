// CSoloSpawn: the few things Swift cannot do safely or cannot import.
//
// - solo_spawn: everything between fork and exec (no Swift may run there).
// - solo_guardian_start: a tiny forked process that kills the workers' process groups when the
//   supervisor dies, however it dies.
// - thin wrappers for Linux calls that Swift's Glibc module leaves out (epoll, signalfd,
//   pipe2, close_range, prctl) or cannot call (variadic functions, function-like macros).
//
// Every function returns 0 or an errno value unless it says otherwise. No _GNU_SOURCE here:
// it breaks Swift's Glibc module (see notes/swift-linux.md); the .c files define it.
#pragma once

#include <stdint.h>
#include <sys/types.h>

// MARK: - spawning

struct solo_rlimit {
    int resource;       // RLIMIT_*
    uint64_t soft;      // UINT64_MAX = unlimited
    uint64_t hard;
};

struct solo_spawn_request {
    const char *_Nonnull path;              // the program, already resolved by the caller
    char *_Nullable const *_Nonnull argv;   // NULL-terminated
    char *_Nullable const *_Nonnull envp;   // NULL-terminated
    const char *_Nullable directory;        // chdir here (after dropping privileges); NULL: stay
    const int *_Nonnull fds;                // the child's fd i is a copy of fds[i]; -1 leaves it closed
    int nfds;                               // every descriptor >= nfds is closed in the child
    int new_session;                        // setsid(): own session and process group
    int guardian_fd;                        // the guardian's pipe: the child registers its
                                            // session there before it execs; -1 for none
    int death_signal;                       // PR_SET_PDEATHSIG; 0 for none
    int umask;                              // -1 leaves it as it is
    int set_ids;                            // switch to uid/gid/groups below
    uid_t uid;
    gid_t gid;
    const gid_t *_Nullable groups;
    int ngroups;
    const struct solo_rlimit *_Nullable rlimits;
    int nrlimits;
};

// Steps of the child, reported back when one fails.
enum solo_spawn_stage {
    SOLO_STAGE_NONE = 0,
    SOLO_STAGE_SIGNALS = 1,
    SOLO_STAGE_SESSION = 2,
    SOLO_STAGE_DEATHSIG = 3,
    SOLO_STAGE_FDS = 4,
    SOLO_STAGE_RLIMIT = 5,
    SOLO_STAGE_GROUPS = 6,
    SOLO_STAGE_SETGID = 7,
    SOLO_STAGE_SETUID = 8,
    SOLO_STAGE_CHDIR = 9,
    SOLO_STAGE_EXEC = 10,
    SOLO_STAGE_CLONE = 11,
};

// Starts a child (clone with CLONE_VM|CLONE_VFORK, as glibc's posix_spawn does) and runs the
// request's steps in it. Returns 0 and the pid, or an errno and the stage that failed; a child
// that failed has been reaped already.
int solo_spawn(const struct solo_spawn_request *_Nonnull request, pid_t *_Nonnull pid,
               int *_Nonnull failed_stage);

// MARK: - the guardian

// Forks the guardian: a process in its own session that reads process-group ids from a pipe
// (a positive int32 adds one, a negative one removes it) and, when the pipe reaches EOF
// because the supervisor is gone, SIGKILLs every registered group and every process whose
// session or group is registered. Returns 0 with the write end (CLOEXEC) and the pid.
int solo_guardian_start(int *_Nonnull write_fd, pid_t *_Nonnull pid);

// MARK: - /proc

struct solo_stat {
    int32_t pid;
    char state;
    int32_t parent;
    int32_t group;
    int32_t session;
    uint64_t start_time;    // clock ticks after boot (field 22)
};

// Parses the text of /proc/PID/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'. Returns 0, or -1 for malformed text.
// Used by the guardian (no allocation) and by Swift's ProcFS: one parser, tested once.
int solo_parse_stat(const char *_Nonnull text, struct solo_stat *_Nonnull out);

// MARK: - epoll

struct solo_event {
    uint32_t events;
    uint64_t token;
};

enum {
    SOLO_EPOLLIN = 0x001,
    SOLO_EPOLLOUT = 0x004,
    SOLO_EPOLLERR = 0x008,
    SOLO_EPOLLHUP = 0x010,
};

int solo_epoll_create(int *_Nonnull fd);
int solo_epoll_add(int epfd, int fd, uint32_t events, uint64_t token);
int solo_epoll_modify(int epfd, int fd, uint32_t events, uint64_t token);
int solo_epoll_remove(int epfd, int fd);
// Returns the number of events (>= 0) or -errno.
int solo_epoll_wait(int epfd, struct solo_event *_Nonnull events, int max, int timeout_ms);

// MARK: - signals

// Blocks the signals for the calling thread (call before any other thread exists).
int solo_block_signals(const int *_Nonnull signals, int count);
int solo_ignore_signal(int signal);
int solo_signalfd(const int *_Nonnull signals, int count, int *_Nonnull fd);
// Reads one signal: returns 1 with its number and sender, 0 when none is pending, -errno.
int solo_signalfd_read(int fd, int *_Nonnull signo, pid_t *_Nonnull sender);

// MARK: - inotify

enum {
    SOLO_IN_MODIFY = 0x002,
    SOLO_IN_CLOSE_WRITE = 0x008,
    SOLO_IN_MOVED_FROM = 0x040,
    SOLO_IN_MOVED_TO = 0x080,
    SOLO_IN_CREATE = 0x100,
    SOLO_IN_DELETE = 0x200,
};

int solo_inotify_init(int *_Nonnull fd);                                  // non-blocking, CLOEXEC
int solo_inotify_watch(int fd, const char *_Nonnull path, uint32_t mask, int *_Nonnull wd);

// MARK: - descriptors and processes

int solo_pipe(int fds[_Nonnull 2]);                 // O_CLOEXEC on both ends
int solo_set_nonblocking(int fd);
int solo_set_cloexec(int fd, int on);
int solo_set_child_subreaper(void);
// The directory `name` in `parent` (AT_FDCWD: relative to the current one) opened O_PATH (the
// right to pass through it is enough), never through a symbolic link (ELOOP or ENOTDIR); CLOEXEC.
int solo_open_directory(int parent, const char *_Nonnull name, int *_Nonnull fd);
// A descriptor that becomes readable when the process exits (CLOEXEC; Linux 5.3 and later).
int solo_pidfd_open(pid_t pid, int *_Nonnull fd);
int solo_reset_signal_mask(void);
// This architecture's number of read(2), as /proc/PID/syscall shows it.
int solo_read_syscall_number(void);

// Decodes a wait status: returns 1 with the exit code, 2 with the signal, 0 otherwise.
int solo_decode_wait_status(int status, int *_Nonnull value);

// Binds a TCP socket to addr:port (host byte order) without SO_REUSEADDR and without listen().
// cloexec: whether the socket is closed on exec. Returns 0 with the fd, or an errno.
int solo_bind_lock(uint32_t addr, uint16_t port, int cloexec, int *_Nonnull fd);
// A listening TCP socket on addr:port (host byte order; non-blocking, close-on-exec,
// SO_REUSEADDR): the metrics endpoint. Returns 0 with the fd, or an errno.
int solo_tcp_listen(uint32_t addr, uint16_t port, int *_Nonnull fd);
// A listening unix stream socket at `path` (non-blocking, close-on-exec, mode 0600); a stale
// socket file is removed first. EEXIST: something other than a socket is there; EADDRINUSE: a
// live socket (another program listens on it). Neither is removed.
int solo_unix_listen(const char *_Nonnull path, int *_Nonnull fd);
// Accepts a connection, unix or TCP (non-blocking, close-on-exec); EAGAIN when none is waiting.
int solo_accept(int fd, int *_Nonnull client);
// The uid and pid of the process at the other end (SO_PEERCRED).
int solo_peer_credentials(int fd, uint32_t *_Nonnull uid, uint32_t *_Nonnull gid, int32_t *_Nonnull pid);
// Connects to a unix stream socket (blocking, close-on-exec).
int solo_unix_connect(const char *_Nonnull path, int *_Nonnull fd);
// Starts connecting to a unix stream socket (non-blocking, close-on-exec); as solo_tcp_connect.
int solo_unix_connect_start(const char *_Nonnull path, int *_Nonnull fd);
// Starts a TCP connection to an IPv4 or IPv6 literal and a port: non-blocking, close-on-exec,
// TCP_NODELAY; as solo_tcp_connect. EINVAL for a string that is no address.
int solo_inet_connect(const char *_Nonnull literal, uint16_t port, int *_Nonnull fd);

// Sends one datagram to a unix datagram socket; a path starting with '@' is in the abstract
// namespace (systemd's NOTIFY_SOCKET convention).
int solo_unix_datagram(const char *_Nonnull path, const char *_Nonnull message, int length);

// Starts a TCP connection to addr:port (host byte order): non-blocking, close-on-exec,
// TCP_NODELAY, keepalive after 10 s idle. Returns 0 with the fd (the connection may still be
// in progress: wait for it to be writable, then read solo_socket_error), or an errno.
int solo_tcp_connect(uint32_t addr, uint16_t port, int *_Nonnull fd);
// The pending error of a socket (SO_ERROR): 0 once a non-blocking connect has succeeded.
int solo_socket_error(int fd, int *_Nonnull error);
// An IPv4 address for a host name or a dotted literal (host byte order). Returns 0, an errno,
// or -1 when the name is unknown. Blocks while a resolver is asked: call it outside the loop.
int solo_resolve_ipv4(const char *_Nonnull name, uint32_t *_Nonnull addr);
// The same on a detached thread, for the supervisor's loop: the thread writes two int32 to
// `fd`, the result of solo_resolve_ipv4 and the address, then closes `fd` (which it owns from
// here on, when this returns 0). The thread inherits the caller's signal mask and allocates
// only in the resolver: the guardian's fork, which runs no allocator, is safe beside it.
int solo_resolve_ipv4_async(const char *_Nonnull name, int fd);

// Reads the address a socket is bound to (host byte order).
int solo_socket_address(int fd, uint32_t *_Nonnull addr, uint16_t *_Nonnull port);

// Reads the IPv4 address (host byte order; 0 for a wildcard, IPv4-mapped IPv6 as IPv4) and
// port that descriptor `fd` of process `pid` is bound to, and the uid that made the socket,
// through a copy of the descriptor (pidfd_getfd: root, or a process this user may trace).
// EAFNOSUPPORT for sockets of other families, ENOTSOCK for other files.
int solo_process_socket_address(int pid, int fd, uint32_t *_Nonnull addr, uint16_t *_Nonnull port, uint32_t *_Nonnull uid);

// Gives the heap's free pages back to the kernel (glibc's malloc_trim(0), which Swift's Glibc
// module does not export).
void solo_release_free_memory(void);
