// The one thing Node cannot do itself: talk AF_NETLINK. This addon opens a NETLINK_NETFILTER socket,
// sends one buffer of netlink messages (encoded in TypeScript: src/firewall/nfnetlink.ts, nftables-netlink.ts), collects the
// replies, and closes the socket. It knows nothing of nftables: all encoding and decoding is in
// TypeScript, where it is unit-tested. The kernel processes a batch inside sendmsg() itself, so its
// replies are queued when it returns; a dump is read until its end. All of it on a libuv thread.
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

/* One request and its replies; filled by run(), which makes no N-API calls (it may run off the main thread). */
struct job {
  char *request;
  size_t length;
  bool dump;
  char netns[4096];
  bool has_netns;
  struct growing replies;
  int err;            /* errno of the failure, 0 when the replies are complete */
  const char *what;   /* the step that failed */
  napi_deferred deferred;
  napi_async_work work;
};

static int run(struct job *j) {
  int fd = open_socket(j->has_netns ? j->netns : NULL);
  if (fd < 0) {
    j->what = "socket";
    return j->err = errno;
  }
  // Room for the whole batch (one sendmsg is one transaction); FORCE needs CAP_NET_ADMIN, which nft needs too.
  int size = (int)(j->length + 65536);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  int rcv = 8 * 1024 * 1024;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one); // errors without a copy of the request
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t sent = sendto(fd, j->request, j->length, 0, (struct sockaddr *)&kernel, sizeof kernel);
  if (sent < 0 || (size_t)sent != j->length) {
    j->err = sent < 0 ? errno : EMSGSIZE;
    j->what = "send";
    close(fd);
    return j->err;
  }
  for (;;) {
    if (reserve(&j->replies, RECV_CHUNK) != 0) {
      j->err = ENOMEM;
      break;
    }
    ssize_t got = recv(fd, j->replies.data + j->replies.len, RECV_CHUNK, j->dump ? 0 : MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (!j->dump && (errno == EAGAIN || errno == EWOULDBLOCK)) break; // every reply of the batch is read
      j->err = errno;
      break;
    }
    if (got == 0) break;
    j->replies.len += (size_t)got;
    if (j->dump && dump_ended(&j->replies)) break;
  }
  if (j->err) j->what = "receive";
  close(fd);
  return j->err;
}

static void free_job(struct job *j) {
  free(j->request);
  free(j->replies.data);
  free(j);
}

static napi_value error_value(napi_env env, const char *what, int err) {
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
  napi_value code_value, message_value, error;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code_value);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value);
  napi_create_error(env, code_value, message_value, &error);
  return error;
}

/* Reads (request: Buffer, dump: boolean, netns?: string) into a new job; NULL after throwing. */
static struct job *parse_args(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *request;
  size_t length;
  bool dump = false;
  if (argc < 2 || napi_get_buffer_info(env, argv[0], &request, &length) != napi_ok || napi_get_value_bool(env, argv[1], &dump) != napi_ok) {
    napi_throw_type_error(env, NULL, "exchangeAsync(request: Buffer, dump: boolean, netns?: string)");
    return NULL;
  }
  struct job *j = calloc(1, sizeof *j);
  if (j) j->request = malloc(length ? length : 1);
  if (!j || !j->request) {
    if (j) free(j);
    napi_throw_error(env, "ENOMEM", "netlink: out of memory");
    return NULL;
  }
  memcpy(j->request, request, length);
  j->length = length;
  j->dump = dump;
  napi_valuetype type = napi_undefined;
  if (argc > 2) napi_typeof(env, argv[2], &type);
  if (type == napi_string) {
    size_t n;
    napi_get_value_string_utf8(env, argv[2], j->netns, sizeof j->netns, &n);
    j->has_netns = true;
  }
  return j;
}

static void execute(napi_env env, void *data) {
  run((struct job *)data);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct job *j = data;
  if (j->err != 0) napi_reject_deferred(env, j->deferred, error_value(env, j->what, j->err));
  else {
    napi_value buffer;
    napi_create_buffer_copy(env, j->replies.len, j->replies.len ? j->replies.data : "", NULL, &buffer);
    napi_resolve_deferred(env, j->deferred, buffer);
  }
  napi_delete_async_work(env, j->work);
  free_job(j);
}

/*
 * exchangeAsync(request: Buffer, dump: boolean, netns?: string): Promise of a Buffer of every reply, on a libuv thread:
 * committing a batch to a set of several 100,000 elements takes the kernel tens of ms, which must not
 * stop the daemon reading logs meanwhile (nft ran in a process of its own).
 */
static napi_value exchange_async(napi_env env, napi_callback_info info) {
  struct job *j = parse_args(env, info);
  if (!j) return NULL;
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "nfnetlink", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "exchangeAsync", NAPI_AUTO_LENGTH, exchange_async, NULL, &fn);
  napi_set_named_property(env, exports, "exchangeAsync", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
