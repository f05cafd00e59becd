// The guardian: kills the workers' process trees when the supervisor dies, however it dies.
//
// PR_SET_PDEATHSIG kills a worker when the supervisor dies, but not the worker's children:
// they would be re-parented to init and live on. The guardian is forked from the supervisor
// (no exec), lives in its own session so that a signal to the supervisor's process group does
// not reach it, and learns every worker's process group through a pipe. When that pipe reaches
// EOF (the supervisor exited or was SIGKILLed) it SIGKILLs every registered group, then scans
// /proc for stragglers whose session or group is registered, and exits.
//
// A descendant that made a session of its own (setsid, a daemon) is in no registered session,
// and by then it may have been re-parented to init: nothing in the process tree says whose it
// is. Its environment does: every worker gets SOLO_SUPERVISOR=<the supervisor's pid>, and
// daemons keep the environment they were born with. So the guardian also kills the processes
// started after the supervisor whose environment holds that exact entry (a process that
// cleared its environment escapes: only a cgroup would hold it).
//
// The child runs only system calls on static buffers: no malloc, no stdio, no Swift.
#define _GNU_SOURCE 1
#include "CSoloSpawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { MAX_GROUPS = 65536 };
static int32_t groups[MAX_GROUPS];
static int group_count;
static char dirent_buffer[32768];
static char stat_buffer[1024];
// The first 256 KiB of a process's environment: where the mark is looked for.
static char environ_buffer[262144];
// "SOLO_SUPERVISOR=<pid>" with its terminating NUL, and the supervisor's start time.
static char mark[48];
static size_t mark_length;
static uint64_t supervisor_start;

static void add_group(int32_t id) {
    for (int i = 0; i < group_count; i++) if (groups[i] == id) return;
    if (group_count < MAX_GROUPS) groups[group_count++] = id;
}

static void remove_group(int32_t id) {
    for (int i = 0; i < group_count; i++) {
        if (groups[i] != id) continue;
        groups[i] = groups[--group_count];
        return;
    }
}

static int registered(long id) {
    for (int i = 0; i < group_count; i++) if (groups[i] == id) return 1;
    return 0;
}

// Opens /proc/PID/NAME for reading; -1 if it cannot.
static int open_proc(const char *pid, const char *name) {
    char path[64] = "/proc/";
    size_t n = strlen(pid), m = strlen(name);
    if (n > 40 || m > 10) return -1;
    memcpy(path + 6, pid, n);
    path[6 + n] = '/';
    memcpy(path + 7 + n, name, m + 1);
    return (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
}

static int read_stat(const char *pid, struct solo_stat *stat) {
    int fd = open_proc(pid, "stat");
    if (fd < 0) return -1;
    long got = syscall(SYS_read, fd, stat_buffer, sizeof stat_buffer - 1);
    syscall(SYS_close, fd);
    if (got <= 0) return -1;
    stat_buffer[got] = 0;
    return solo_parse_stat(stat_buffer, stat);
}

static int has_mark(const char *pid) {
    int fd = open_proc(pid, "environ");
    if (fd < 0) return 0;
    size_t total = 0;
    for (;;) {
        long got = syscall(SYS_read, fd, environ_buffer + total, sizeof environ_buffer - total);
        if (got <= 0) break;
        total += (size_t)got;
        if (total == sizeof environ_buffer) break;
    }
    syscall(SYS_close, fd);
    // Entries are NUL-terminated; the mark must be a whole entry.
    for (size_t start = 0; start + mark_length <= total;) {
        if (memcmp(environ_buffer + start, mark, mark_length) == 0) return 1;
        const char *end = memchr(environ_buffer + start, 0, total - start);
        if (!end) break;
        start = (size_t)(end - environ_buffer) + 1;
    }
    return 0;
}

// Kills every process whose group or session is registered, or that carries the mark;
// returns how many it signalled.
static int sweep(void) {
    int killed = 0;
    int dir = (int)syscall(SYS_openat, AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return 0;
    for (;;) {
        long got = syscall(SYS_getdents64, dir, dirent_buffer, sizeof dirent_buffer);
        if (got <= 0) break;
        for (long offset = 0; offset < got;) {
            struct dirent64 *entry = (struct dirent64 *)(dirent_buffer + offset);
            offset += entry->d_reclen;
            if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
            struct solo_stat stat;
            if (read_stat(entry->d_name, &stat) != 0) continue;
            if (stat.state == 'Z' || stat.state == 'X') continue;  // dead already, waiting to be reaped
            if (!registered(stat.group) && !registered(stat.session)
                && (stat.start_time < supervisor_start || !has_mark(entry->d_name))) continue;
            long pid = 0;
            for (const char *c = entry->d_name; *c; c++) pid = pid * 10 + (*c - '0');
            if (syscall(SYS_kill, (pid_t)pid, SIGKILL) == 0) killed++;
        }
    }
    syscall(SYS_close, dir);
    return killed;
}

// Builds "SOLO_SUPERVISOR=<pid>\0" for the supervisor (the guardian's parent), and notes
// when the supervisor started: only processes started since can carry its mark.
static void prepare_mark(pid_t supervisor) {
    char digits[16], pid_text[16];
    int count = 0;
    for (unsigned value = (unsigned)supervisor; value > 0 || count == 0; value /= 10) digits[count++] = (char)('0' + value % 10);
    for (int i = 0; i < count; i++) pid_text[i] = digits[count - 1 - i];
    pid_text[count] = 0;
    static const char name[] = "SOLO_SUPERVISOR=";
    memcpy(mark, name, sizeof name - 1);
    memcpy(mark + sizeof name - 1, pid_text, (size_t)count + 1);
    mark_length = sizeof name - 1 + (size_t)count + 1;
    struct solo_stat stat;
    supervisor_start = read_stat(pid_text, &stat) == 0 ? stat.start_time : UINT64_MAX;
}

extern char **environ;

static void guardian_main(int input, pid_t supervisor) {
    prepare_mark(supervisor);
    // A solo that runs as another solo's worker carries that solo's mark, and so does its
    // guardian: blot it out of this process's environment (what /proc/self/environ shows), so
    // that the outer guardian does not kill this one before it has done its own work.
    for (char **entry = environ; entry && *entry; entry++) {
        if (strncmp(*entry, "SOLO_SUPERVISOR=", 16) == 0) (*entry)[0] = 'X';
    }
    // Survive what is meant for the supervisor (a terminal's ^C, a kill of its group).
    syscall(SYS_setsid);
    struct sigaction ignore = {0};
    ignore.sa_handler = SIG_IGN;
    int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGTTIN, SIGTTOU};
    for (unsigned i = 0; i < sizeof ignored / sizeof ignored[0]; i++) sigaction(ignored[i], &ignore, NULL);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    prctl(PR_SET_NAME, "solo-guardian", 0, 0, 0);

    // Keep only the pipe, as fd 3; stdio goes to /dev/null so that a closed terminal cannot hurt.
    int null = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3; fd++) if (null >= 0 && null != fd) syscall(SYS_dup3, null, fd, 0);
    if (input != 3 && syscall(SYS_dup3, input, 3, O_CLOEXEC) < 0) _exit(1);
    input = 3;
    if (syscall(SYS_close_range, 4U, ~0U, 0) != 0) {
        for (int fd = 4; fd < 4096; fd++) syscall(SYS_close, fd);
    }

    int32_t record[256];
    size_t pending = 0;  // bytes of a partial record carried over
    for (;;) {
        long got = syscall(SYS_read, input, (char *)record + pending, sizeof record - pending);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        size_t total = pending + (size_t)got;
        size_t whole = total / sizeof(int32_t);
        for (size_t i = 0; i < whole; i++) {
            if (record[i] > 0) add_group(record[i]);
            else if (record[i] < 0) remove_group(-record[i]);
        }
        pending = total % sizeof(int32_t);
        if (pending) memmove(record, (char *)record + whole * sizeof(int32_t), pending);
    }

    for (int i = 0; i < group_count; i++) syscall(SYS_kill, -groups[i], SIGKILL);
    // Processes that left their group but not their session, and forks that raced the kill.
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int round = 0; round < 100 && sweep() > 0; round++) nanosleep(&pause, NULL);
    _exit(0);
}

int solo_guardian_start(int *write_fd, pid_t *pid) {
    pid_t supervisor = getpid();
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return errno;
    pid_t child = fork();
    if (child < 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        return saved;
    }
    if (child == 0) {
        syscall(SYS_close, fds[1]);
        // The supervisor died before the guardian ran: its parent is now someone else, whose
        // pid it must not take for the supervisor's (and there is nothing to guard).
        if ((pid_t)syscall(SYS_getppid) != supervisor) _exit(0);
        guardian_main(fds[0], supervisor);
    }
    close(fds[0]);
    *write_fd = fds[1];
    *pid = child;
    return 0;
}
