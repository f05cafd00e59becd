/* The held-port check in plain C, as the baseline for `solo -port`: bind the per-user
 * loopback address without SO_REUSEADDR; exit 98 with the classic message when taken. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 3801;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    unsigned uid = getuid();
    sa.sin_addr.s_addr = htonl(0x7f000001u | ((uid >> 8) & 255) << 16 | (uid & 255) << 8);
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "solo(%d): %s\n", port, strerror(errno));
        return errno;
    }
    if (argc > 2) execvp(argv[2], argv + 2);
    return 0;
}
