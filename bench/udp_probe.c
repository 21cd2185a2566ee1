/* udp_probe.c: the process peer of the network-up probe: sends one UDP
 * datagram to ADDR PORT and exits (built static, like hello_static). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    static const char msg[] = "process net up\n";
    int fd;

    if (argc != 3 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1)
        return 2;
    a.sin_port = htons((unsigned short)atoi(argv[2]));
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || sendto(fd, msg, sizeof(msg) - 1, 0, (struct sockaddr *)&a, sizeof(a)) < 0)
        return 1;
    return 0;
}
