/*
 * connect-bind.c: LD_PRELOAD shim that makes a program's outgoing IPv4 TCP connections use a
 * chosen source address, for clients that have no source-address option of their own
 * (openssl s_client in older versions, Chromium, Firefox).
 *
 *   gcc -shared -fPIC -O2 -o /tmp/connect-bind.so connect-bind.c -ldl
 *   SHIM_BIND_ADDR=10.77.1.5 LD_PRELOAD=/tmp/connect-bind.so chromium ...
 *
 * connect() on an AF_INET SOCK_STREAM socket whose destination is not loopback (127/8) and
 * that is not bound yet is preceded by bind(SHIM_BIND_ADDR, port 0) with
 * IP_BIND_ADDRESS_NO_PORT (the kernel still picks the port at connect time, as usual).
 * Everything else (UDP, Unix sockets, loopback such as the DevTools socket) is untouched.
 * SHIM_DEBUG=1 prints one line per connect to stderr. Child processes inherit the
 * environment, so Chromium's network service process is covered as long as LD_PRELOAD
 * reaches it (it does with --no-sandbox; see README.md).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static void maybe_bind(int fd, const struct sockaddr *addr, socklen_t len) {
    const char *src = getenv("SHIM_BIND_ADDR");
    if (src == NULL || *src == '\0' || addr == NULL || len < (socklen_t)sizeof(struct sockaddr_in))
        return;
    if (addr->sa_family != AF_INET)
        return;
    const struct sockaddr_in *dst = (const struct sockaddr_in *)addr;
    if ((ntohl(dst->sin_addr.s_addr) >> 24) == 127)
        return;
    int type = 0;
    socklen_t tl = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM)
        return;
    struct sockaddr_in cur;
    socklen_t cl = sizeof(cur);
    memset(&cur, 0, sizeof(cur));
    if (getsockname(fd, (struct sockaddr *)&cur, &cl) == 0 && cur.sin_family == AF_INET &&
        (cur.sin_addr.s_addr != 0 || cur.sin_port != 0))
        return; /* already bound by the program itself */
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (inet_pton(AF_INET, src, &sa.sin_addr) != 1)
        return;
    int one = 1;
    int saved = errno;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (getenv("SHIM_DEBUG") != NULL) {
        char d[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &dst->sin_addr, d, sizeof(d));
        fprintf(stderr, "[connect-bind pid %d] fd %d -> %s:%d bound to %s: %s\n", (int)getpid(), fd, d,
                ntohs(dst->sin_port), src, rc == 0 ? "ok" : strerror(errno));
    }
    errno = saved;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static connect_fn real_connect = NULL;
    if (real_connect == NULL)
        real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
    maybe_bind(fd, addr, len);
    return real_connect(fd, addr, len);
}
