/* The benchmark's feed worker: for each line on stdin, "ok" on fd 3. With an argument, it
 * handles one job and exits (the same code started once per job, the baseline). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char *line = NULL;
    size_t size = 0;
    (void)argv;
    if (argc == 1) write(3, "ready\n", 6);
    while (getline(&line, &size, stdin) > 0) {
        write(3, "ok\n", 3);
        if (argc > 1) break;
    }
    return 0;
}
