// The one thing Node cannot do itself: talk AF_NETLINK. This addon opens a NETLINK_NETFILTER socket,
// sends one buffer of netlink messages (encoded in TypeScript, src/firewall/netlink-*.ts), collects the
// replies, and closes the socket. It knows nothing of nftables: all encoding and decoding is in
// TypeScript, where it is unit-tested. Synchronous on purpose: the kernel processes a batch inside
// sendmsg() itself, so the replies are already queued when it returns; a dump is read until its end.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <node_api.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define RECV_CHUNK (256 * 1024)
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

struct growing {
  char *data;
  size_t len, cap;
};

static int reserve(struct growing *g, size_t more) {
  if (g->len + more <= g->cap) return 0;
  size_t cap = g->cap ? g->cap : RECV_CHUNK;
  while (cap < g->len + more) cap *= 2;
  char *data = realloc(g->data, cap);
  if (!data) return -1;
  g->data = data;
  g->cap = cap;
  return 0;
}

/* A socket in the network namespace at `netns` (a path such as /run/netns/NAME), or in our own. */
static int open_socket(const char *netns) {
  int self = -1, target = -1, fd = -1, saved = 0;
  if (netns) {
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    target = open(netns, O_RDONLY | O_CLOEXEC);
    if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) != 0) {
      saved = errno;
      if (self >= 0) close(self);
      if (target >= 0) close(target);
      errno = saved;
      return -1;
    }
  }
  fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  saved = errno;
  if (netns) {
    // Staying in the other namespace would move every later socket of this thread there.
    if (setns(self, CLONE_NEWNET) != 0) abort();
    close(self);
    close(target);
  }
  errno = saved;
  return fd;
}

/* True when the replies in `g` hold the end of a dump (NLMSG_DONE) or an error. */
static int dump_ended(const struct growing *g) {
  size_t off = 0;
  while (off + sizeof(struct nlmsghdr) <= g->len) {
    const struct nlmsghdr *h = (const struct nlmsghdr *)(g->data + off);
    if (h->nlmsg_len < sizeof(struct nlmsghdr)) return 1;
    if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return 1;
    off += NLMSG_ALIGN(h->nlmsg_len);
  }
  return 0;
}

static napi_value fail(napi_env env, const char *what, int err) {
  char code[32];
  const char *name = err == EPERM ? "EPERM" : err == EACCES ? "EACCES" : err == EPROTONOSUPPORT ? "EPROTONOSUPPORT"
                   : err == EAFNOSUPPORT ? "EAFNOSUPPORT" : err == EMSGSIZE ? "EMSGSIZE" : err == ENOBUFS ? "ENOBUFS"
                   : err == EAGAIN ? "EAGAIN" : err == ENOENT ? "ENOENT" : NULL;
  if (!name) {
    snprintf(code, sizeof code, "E%d", err);
    name = code;
  }
  char message[256];
  snprintf(message, sizeof message, "netlink %s: %s", what, strerror(err));
  napi_throw_error(env, name, message);
  return NULL;
}

/* exchange(request: Buffer, dump: boolean, netns?: string): Buffer of every reply message. */
static napi_value exchange(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *request;
  size_t length;
  bool dump = false;
  if (argc < 2 || napi_get_buffer_info(env, argv[0], &request, &length) != napi_ok || napi_get_value_bool(env, argv[1], &dump) != napi_ok) {
    napi_throw_type_error(env, NULL, "exchange(request: Buffer, dump: boolean, netns?: string)");
    return NULL;
  }
  char netns[4096];
  const char *ns = NULL;
  napi_valuetype type = napi_undefined;
  if (argc > 2) napi_typeof(env, argv[2], &type);
  if (type == napi_string) {
    size_t n;
    napi_get_value_string_utf8(env, argv[2], netns, sizeof netns, &n);
    ns = netns;
  }

  int fd = open_socket(ns);
  if (fd < 0) return fail(env, "socket", errno);
  // Room for the whole batch (one sendmsg is one transaction); FORCE needs CAP_NET_ADMIN, which nft needs too.
  int size = (int)(length + 65536);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  int rcv = 8 * 1024 * 1024;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one); // errors without a copy of the request
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t sent = sendto(fd, request, length, 0, (struct sockaddr *)&kernel, sizeof kernel);
  if (sent < 0 || (size_t)sent != length) {
    int err = sent < 0 ? errno : EMSGSIZE;
    close(fd);
    return fail(env, "send", err);
  }
  struct growing replies = {0};
  for (;;) {
    if (reserve(&replies, RECV_CHUNK) != 0) {
      close(fd);
      free(replies.data);
      return fail(env, "receive", ENOMEM);
    }
    ssize_t got = recv(fd, replies.data + replies.len, RECV_CHUNK, dump ? 0 : MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (!dump && (errno == EAGAIN || errno == EWOULDBLOCK)) break; // every reply of the batch is read
      int err = errno;
      close(fd);
      free(replies.data);
      return fail(env, "receive", err);
    }
    if (got == 0) break;
    replies.len += (size_t)got;
    if (dump && dump_ended(&replies)) break;
  }
  close(fd);
  napi_value result;
  napi_create_buffer_copy(env, replies.len, replies.len ? replies.data : "", NULL, &result);
  free(replies.data);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "exchange", NAPI_AUTO_LENGTH, exchange, NULL, &fn);
  napi_set_named_property(env, exports, "exchange", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
