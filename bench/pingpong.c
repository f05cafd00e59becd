/* The raw limit: this program plays the supervisor with no queue and no loop around it. It
 * starts N feed workers (argv[2..]) with pipes on stdin and fd 3 and exchanges JOBS lines
 * with them, each worker holding one job at a time, and prints jobs per second. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: pingpong JOBS WORKERS COMMAND [ARGS...]\n"); return 2; }
    long jobs = atol(argv[1]);
    int workers = atoi(argv[2]);
    int in[64], out[64];
    for (int w = 0; w < workers; w++) {
        int to[2], from[2];
        pipe2(to, O_CLOEXEC);
        pipe2(from, O_CLOEXEC);
        if (fork() == 0) {
            dup2(to[0], 0);
            dup2(from[1], 3);
            execvp(argv[3], argv + 3);
            _exit(127);
        }
        close(to[0]);
        close(from[1]);
        in[w] = to[1];
        out[w] = from[0];
        char ready[16];
        read(out[w], ready, sizeof ready);
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long sent = 0, done = 0;
    const char job[] = "{\"id\": 12345, \"to\": \"someone@example.org\"}\n";
    for (int w = 0; w < workers && sent < jobs; w++, sent++) write(in[w], job, sizeof job - 1);
    struct pollfd fds[64];
    for (int w = 0; w < workers; w++) { fds[w].fd = out[w]; fds[w].events = POLLIN; }
    char buffer[64];
    while (done < jobs) {
        poll(fds, workers, -1);
        for (int w = 0; w < workers; w++) {
            if (!(fds[w].revents & POLLIN)) continue;
            read(out[w], buffer, sizeof buffer);
            done++;
            if (sent < jobs) { write(in[w], job, sizeof job - 1); sent++; }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
    printf("%.0f\n", jobs / seconds);
    for (int w = 0; w < workers; w++) close(in[w]);
    return 0;
}
