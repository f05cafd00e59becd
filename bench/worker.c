/* A benchmark worker: announces "pid monotonic-ns" on the FIFO named by BENCH_FIFO the
 * moment it runs, then waits forever, or exits after BENCH_EXIT_MS milliseconds. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    const char *fifo = getenv("BENCH_FIFO");
    if (fifo) {
        char line[64];
        int n = snprintf(line, sizeof line, "%d %lld\n", (int)getpid(), ns);
        int fd = open(fifo, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) { write(fd, line, (size_t)n); close(fd); }
    }
    const char *exit_ms = getenv("BENCH_EXIT_MS");
    if (exit_ms) {
        usleep((useconds_t)atoi(exit_ms) * 1000);
        return 0;
    }
    for (;;) pause();
}
