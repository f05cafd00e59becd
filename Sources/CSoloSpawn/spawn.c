// The code between fork and exec. Only raw system calls run in the child: it shares the
// parent's memory (CLONE_VM) until it execs, so it must not allocate, take locks or call
// anything that touches libc's global state.
#define _GNU_SOURCE 1
#include "CSoloSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The kernel's struct sigaction (x86_64, aarch64), not glibc's: rt_sigaction is called raw.
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

struct child_args {
    const struct solo_spawn_request *request;
    sigset_t parent_mask;
    pid_t parent;
    // Written by the child before it _exits; read by the parent after clone returns
    // (CLONE_VFORK suspends the parent until the child execs or exits).
    volatile int stage;
    volatile int err;
};

static int fail(struct child_args *args, int stage) {
    args->stage = stage;
    args->err = errno;
    _exit(127);
}

static void close_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return;
    // Kernels before 5.9: close what may be open.
    struct rlimit64 limit;
    long max = 65536;
    if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &limit) == 0 && limit.rlim_cur != RLIM64_INFINITY)
        max = (long)limit.rlim_cur;
    for (long fd = first; fd < max; fd++) syscall(SYS_close, (int)fd);
}

static int child_main(void *opaque) {
    struct child_args *args = opaque;
    const struct solo_spawn_request *req = args->request;

    // Every signal back to its default action (SIG_IGN included: SIGPIPE is ignored in the
    // supervisor); the mask is emptied last, right before exec. Raw rt_sigaction, because
    // glibc's sigaction refuses its two internal signals (32, 33), which a parent may have
    // left ignored.
    for (int sig = 1; sig < NSIG; sig++) {
        struct kernel_sigaction current;
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        if (syscall(SYS_rt_sigaction, sig, NULL, &current, sizeof(uint64_t)) != 0) continue;
        if (current.handler == SIG_DFL) continue;
        struct kernel_sigaction dfl = {0};
        dfl.handler = SIG_DFL;
        if (syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t)) != 0) fail(args, SOLO_STAGE_SIGNALS);
    }

    if (req->new_session && syscall(SYS_setsid) < 0) fail(args, SOLO_STAGE_SESSION);

    // Tell the guardian about this session before anything of the worker runs: registered
    // after the spawn returns, a worker could fork a grandchild and the supervisor die in
    // between, and that grandchild would outlive it. (Best effort: the supervisor registers
    // again after the spawn, which the guardian takes as a no-op.)
    if (req->new_session && req->guardian_fd >= 0) {
        int32_t session = (int32_t)syscall(SYS_getpid);
        syscall(SYS_write, req->guardian_fd, &session, sizeof session);
    }

    // Move every source above the targets first, so that a source numbered like a target
    // cannot be overwritten before it is copied; dup2 then clears close-on-exec.
    int moved[64];
    if (req->nfds > 64) { errno = EINVAL; fail(args, SOLO_STAGE_FDS); }
    for (int i = 0; i < req->nfds; i++) {
        moved[i] = -1;
        if (req->fds[i] < 0) continue;
        long copy = syscall(SYS_fcntl, req->fds[i], F_DUPFD_CLOEXEC, req->nfds);
        if (copy < 0) fail(args, SOLO_STAGE_FDS);
        moved[i] = (int)copy;
    }
    for (int i = 0; i < req->nfds; i++) {
        if (moved[i] < 0) { syscall(SYS_close, i); continue; }
        if (syscall(SYS_dup3, moved[i], i, 0) < 0) fail(args, SOLO_STAGE_FDS);
    }
    close_from(req->nfds);

    if (req->umask >= 0) syscall(SYS_umask, req->umask);

    for (int i = 0; i < req->nrlimits; i++) {
        struct rlimit64 limit;
        limit.rlim_cur = req->rlimits[i].soft == UINT64_MAX ? RLIM64_INFINITY : req->rlimits[i].soft;
        limit.rlim_max = req->rlimits[i].hard == UINT64_MAX ? RLIM64_INFINITY : req->rlimits[i].hard;
        if (syscall(SYS_prlimit64, 0, req->rlimits[i].resource, &limit, NULL) != 0)
            fail(args, SOLO_STAGE_RLIMIT);
    }

    // Raw system calls: glibc's set*id wrappers signal every thread of the process, and this
    // child shares the parent's memory. Groups, then gid, then uid: after setresuid the
    // process could no longer change the others.
    if (req->set_ids) {
        if (syscall(SYS_setgroups, (size_t)req->ngroups, req->groups) != 0) fail(args, SOLO_STAGE_GROUPS);
        if (syscall(SYS_setresgid, req->gid, req->gid, req->gid) != 0) fail(args, SOLO_STAGE_SETGID);
        if (syscall(SYS_setresuid, req->uid, req->uid, req->uid) != 0) fail(args, SOLO_STAGE_SETUID);
    }

    // After the credentials: the kernel clears the parent-death signal when the uid or gid
    // changes, so set before, it would be gone for every pool with `user =`.
    if (req->death_signal) {
        if (syscall(SYS_prctl, PR_SET_PDEATHSIG, req->death_signal, 0, 0, 0) != 0)
            fail(args, SOLO_STAGE_DEATHSIG);
        // The parent may have died before prctl took effect.
        if (syscall(SYS_getppid) != args->parent) { errno = ESRCH; fail(args, SOLO_STAGE_DEATHSIG); }
    }

    // After dropping privileges: a worker must not start in a directory its user can't enter.
    if (req->directory && syscall(SYS_chdir, req->directory) != 0) fail(args, SOLO_STAGE_CHDIR);

    uint64_t empty = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, sizeof empty);

    syscall(SYS_execve, req->path, req->argv, req->envp);
    fail(args, SOLO_STAGE_EXEC);
    return 127;
}

int solo_spawn(const struct solo_spawn_request *request, pid_t *pid, int *failed_stage) {
    enum { STACK_SIZE = 64 * 1024 };
    *failed_stage = SOLO_STAGE_NONE;
    *pid = -1;

    void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) { *failed_stage = SOLO_STAGE_CLONE; return errno; }

    struct child_args args = {0};
    args.request = request;
    args.parent = getpid();

    // No signal handler may run in the child while it shares our memory.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &args.parent_mask);

    int child = clone(child_main, (char *)stack + STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    int clone_errno = errno;

    pthread_sigmask(SIG_SETMASK, &args.parent_mask, NULL);
    munmap(stack, STACK_SIZE);

    if (child < 0) { *failed_stage = SOLO_STAGE_CLONE; return clone_errno; }
    if (args.stage != SOLO_STAGE_NONE) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        *failed_stage = args.stage;
        return args.err ? args.err : EINVAL;
    }
    *pid = child;
    return 0;
}

int solo_decode_wait_status(int status, int *value) {
    if (WIFEXITED(status)) { *value = WEXITSTATUS(status); return 1; }
    if (WIFSIGNALED(status)) { *value = WTERMSIG(status); return 2; }
    *value = 0;
    return 0;
}
