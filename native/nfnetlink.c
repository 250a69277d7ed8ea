// The one thing Node cannot do itself: talk AF_NETLINK. This addon opens a NETLINK_NETFILTER socket,
// sends one buffer of netlink messages (encoded in TypeScript: src/firewall/nfnetlink.ts, nftables-netlink.ts), collects the
// replies, and closes the socket. It knows nothing of nftables: all encoding and decoding is in
// TypeScript, where it is unit-tested. The kernel processes a batch inside sendmsg() itself, so its
// replies are queued when it returns; a dump is read until its end, or only its first replies (a peek:
// closing the socket ends the dump). All of it on a libuv thread.
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
#include <uv.h>

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

enum { BATCH = 0, DUMP = 1, PEEK = 2 };

/* One request and its replies; filled by run(), which makes no N-API calls (it may run off the main thread). */
struct job {
  char *request;
  size_t length;
  int mode;           /* BATCH, DUMP or PEEK */
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
  int peeked = 0;
  for (;;) {
    if (reserve(&j->replies, RECV_CHUNK) != 0) {
      j->err = ENOMEM;
      break;
    }
    ssize_t got = recv(fd, j->replies.data + j->replies.len, RECV_CHUNK, j->mode == BATCH ? MSG_DONTWAIT : 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (j->mode == BATCH && (errno == EAGAIN || errno == EWOULDBLOCK)) break; // every reply of the batch is read
      j->err = errno;
      break;
    }
    if (got == 0) break;
    j->replies.len += (size_t)got;
    // A dump's replies come one per recv(), and its end (NLMSG_DONE) in a reply of its own after the
    // last elements: a peek reads two, so a set that fits in one is read whole.
    if (j->mode != BATCH && dump_ended(&j->replies)) break;
    if (j->mode == PEEK && ++peeked == 2) break;
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

/* Reads (request: Buffer, mode: boolean | number, netns?: string) into a new job; NULL after throwing. */
static struct job *parse_args(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *request;
  size_t length;
  bool dump = false;
  int32_t mode = BATCH;
  bool read = argc >= 2 && napi_get_buffer_info(env, argv[0], &request, &length) == napi_ok;
  if (read && napi_get_value_bool(env, argv[1], &dump) == napi_ok) mode = dump ? DUMP : BATCH;
  else if (!read || napi_get_value_int32(env, argv[1], &mode) != napi_ok || mode < BATCH || mode > PEEK) {
    napi_throw_type_error(env, NULL, "exchangeAsync(request: Buffer, mode: boolean | 0 | 1 | 2, netns?: string)");
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
  j->mode = mode;
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
 * exchangeAsync(request: Buffer, mode: boolean | 0 | 1 | 2, netns?: string): Promise of a Buffer of the replies (a
 * batch's; a dump's, true or 1; a dump's first two, 2), on a libuv thread:
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

/*
 * Change notifications (watch): a second NETLINK_NETFILTER socket subscribed to the kernel's nftables
 * multicast group, read on Node's event loop (uv_poll). Every committed transaction's notifications end
 * with NFT_MSG_NEWGEN, which names the task that committed it; the messages before it are only noted
 * (does the transaction touch our table in a way that can weaken protection?), and JS is called once per
 * foreign transaction that did. Our own element writes (a flood's 100,000s of bans and unbans) are
 * committed by this process's threads or by the nft it runs, so they cost a read here and no JS.
 */
#define NFNL_SUBSYS_NFTABLES 10
#define NFNLGRP_NFTABLES 7
#define NFPROTO_INET 1
enum { NEWTABLE = 0, DELTABLE = 2, NEWCHAIN = 3, DELCHAIN = 5, NEWRULE = 6, DELRULE = 8, DELSET = 11, DELSETELEM = 14, NEWGEN = 15,
       DESTROYTABLE = 26, DESTROYCHAIN = 27, DESTROYRULE = 28, DESTROYSET = 29, DESTROYSETELEM = 30 };
#define NFTA_GEN_PROC_PID 2
#define WATCH_RCVBUF (16 * 1024 * 1024)

struct watcher {
  int fd;
  uv_poll_t *poll; /* freed by its close callback; the watcher by the JS handle's finalizer */
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  char table[64];
  bool relevant; /* the transaction being read so far touched our table */
  bool closed;
  pid_t children[64]; /* the latest nft processes we ran (own()): they may be reaped before we read */
  unsigned next_child;
};

/* Whether a change of type `msg` can weaken protection: any deletion, a new rule (it may come before
 * ours and accept), a table or chain update (a table made dormant, a chain's hook changed). */
static bool weakens(unsigned msg) {
  switch (msg) {
  case NEWTABLE: case DELTABLE: case NEWCHAIN: case DELCHAIN: case NEWRULE: case DELRULE: case DELSET: case DELSETELEM:
  case DESTROYTABLE: case DESTROYCHAIN: case DESTROYRULE: case DESTROYSET: case DESTROYSETELEM:
    return true;
  default:
    return false;
  }
}

/* The payload of the first attribute of `type` in [at, end), NULL when absent; *len its length. */
static const char *attribute(const char *at, const char *end, unsigned type, size_t *len) {
  while (at + 4 <= end) {
    unsigned short alen, atype;
    memcpy(&alen, at, 2);
    memcpy(&atype, at + 2, 2);
    if (alen < 4 || at + alen > end) return NULL;
    if ((atype & 0x3fff) == type) {
      *len = alen - 4;
      return at + 4;
    }
    at += (alen + 3) & ~3u;
  }
  return NULL;
}

/* True when `pid` committed on our behalf: this process, one of its threads (the kernel names the thread
 * that sent the batch, a libuv worker for our netlink writes), or a child of ours (nft): one JS named
 * with own(), or, for other children, one still in /proc with us as its parent. */
static bool own_task(const struct watcher *w, pid_t pid) {
  if (pid == getpid()) return true;
  for (unsigned i = 0; w && pid > 0 && i < sizeof w->children / sizeof w->children[0]; i++) {
    if (w->children[i] == pid) return true;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d", (int)pid);
  if (access(path, F_OK) == 0) return true;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return false;
  char line[512];
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = 0;
  const char *close_paren = strrchr(line, ')'); /* the command name may hold spaces and parentheses */
  int ppid = 0;
  char state;
  return close_paren && sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid();
}

/* Reads one datagram of notifications; returns how many foreign transactions weakened our table. */
static int scan(const struct watcher *w, bool *relevant, const char *table, const char *buf, size_t len) {
  int found = 0;
  size_t off = 0;
  while (off + sizeof(struct nlmsghdr) <= len) {
    const struct nlmsghdr *h = (const struct nlmsghdr *)(buf + off);
    if (h->nlmsg_len < sizeof(struct nlmsghdr) || off + h->nlmsg_len > len) break;
    const char *payload = buf + off + NLMSG_HDRLEN, *end = buf + off + h->nlmsg_len;
    off += NLMSG_ALIGN(h->nlmsg_len);
    if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES || payload + 4 > end) continue;
    unsigned msg = h->nlmsg_type & 0xff;
    if (msg == NEWGEN) {
      size_t n = 0;
      const char *p = attribute(payload + 4, end, NFTA_GEN_PROC_PID, &n);
      uint32_t be = 0;
      if (p && n == 4) memcpy(&be, p, 4);
      pid_t pid = (pid_t)__builtin_bswap32(be);
      if (*relevant && !(p && n == 4 && own_task(w, pid))) found++;
      *relevant = false;
      continue;
    }
    if (*relevant || !weakens(msg) || (unsigned char)payload[0] != NFPROTO_INET) continue;
    /* NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE: all 1. */
    size_t n = 0;
    const char *name = attribute(payload + 4, end, 1, &n);
    if (name && strnlen(name, n) == strlen(table) && memcmp(name, table, strlen(table)) == 0) *relevant = true;
  }
  return found;
}

static void call_js(struct watcher *w, bool overflow) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(w->env, &scope) != napi_ok) return;
  napi_value callback, global, arg;
  if (napi_get_reference_value(w->env, w->callback, &callback) == napi_ok && callback != NULL) {
    napi_get_global(w->env, &global);
    napi_get_boolean(w->env, overflow, &arg);
    napi_value result;
    napi_make_callback(w->env, w->context, global, callback, 1, &arg, &result);
  }
  napi_close_handle_scope(w->env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  struct watcher *w = handle->data;
  static char buf[64 * 1024];
  int found = 0;
  bool overflow = false;
  while (!w->closed) {
    ssize_t got = recv(w->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        /* Notifications were dropped: what they said is unknown, so the caller checks everything. */
        overflow = true;
        w->relevant = false;
        continue;
      }
      break; /* EAGAIN: all read */
    }
    if (got == 0) break;
    found += scan(w, &w->relevant, w->table, buf, (size_t)got);
  }
  if (!w->closed && (overflow || found > 0)) call_js(w, overflow);
}

static void on_closed(uv_handle_t *handle) {
  free(handle);
}

static void stop_watch(napi_env env, struct watcher *w) {
  if (w->closed) return;
  w->closed = true;
  uv_poll_stop(w->poll);
  uv_close((uv_handle_t *)w->poll, on_closed);
  close(w->fd);
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->context);
}

static napi_value watch_close(napi_env env, napi_callback_info info) {
  napi_value self;
  struct watcher *w = NULL;
  napi_get_cb_info(env, info, NULL, NULL, &self, NULL);
  if (napi_unwrap(env, self, (void **)&w) == napi_ok && w) stop_watch(env, w);
  return NULL;
}

/* own(pid): a process we started (nft) whose commits are ours. */
static napi_value watch_own(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  struct watcher *w = NULL;
  int32_t pid = 0;
  napi_get_cb_info(env, info, &argc, argv, &self, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || napi_unwrap(env, self, (void **)&w) != napi_ok || !w) return NULL;
  w->children[w->next_child++ % (sizeof w->children / sizeof w->children[0])] = pid;
  return NULL;
}

/* The handle was collected: a watch nobody can close any more ends with it. */
static void watch_finalize(napi_env env, void *data, void *hint) {
  stop_watch(env, data);
  free(data);
}

/*
 * watch(table: string, onChange: (overflow: boolean) => void, netns?: string, receiveBuffer?: number):
 * { close(): void; own(pid: number): void }.
 * Throws (code EPERM, …) when the socket cannot be opened or subscribed. The poll handle does not keep
 * the process alive.
 */
static napi_value watch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t1 = napi_undefined, t2 = napi_undefined, t3 = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t1);
  char table[64], netns[4096];
  size_t n;
  if (argc < 2 || t1 != napi_function || napi_get_value_string_utf8(env, argv[0], table, sizeof table, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "watch(table: string, onChange: (overflow: boolean) => void, netns?: string, receiveBuffer?: number)");
    return NULL;
  }
  if (argc > 2) napi_typeof(env, argv[2], &t2);
  if (t2 == napi_string) napi_get_value_string_utf8(env, argv[2], netns, sizeof netns, &n);
  int fd = open_socket(t2 == napi_string ? netns : NULL);
  if (fd < 0) {
    napi_throw(env, error_value(env, "socket", errno));
    return NULL;
  }
  int group = NFNLGRP_NFTABLES, rcv = WATCH_RCVBUF;
  if (argc > 3) napi_typeof(env, argv[3], &t3);
  if (t3 == napi_number) napi_get_value_int32(env, argv[3], &rcv); /* tests: a small buffer overflows */
  // Room for a big foreign transaction's notifications (FORCE needs CAP_NET_ADMIN, as nft does).
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0 || setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0 ||
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    int err = errno;
    close(fd);
    napi_throw(env, error_value(env, "subscribe", err));
    return NULL;
  }
  uv_loop_t *loop;
  struct watcher *w = calloc(1, sizeof *w);
  uv_poll_t *poll = malloc(sizeof *poll);
  if (!w || !poll || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init_socket(loop, poll, fd) != 0) {
    close(fd);
    free(w);
    free(poll);
    napi_throw_error(env, "ENOMEM", "netlink watch: cannot poll the socket");
    return NULL;
  }
  w->fd = fd;
  w->env = env;
  w->poll = poll;
  poll->data = w;
  snprintf(w->table, sizeof w->table, "%s", table);
  napi_value name, handle, close_fn;
  napi_create_reference(env, argv[1], 1, &w->callback);
  napi_create_string_utf8(env, "nftables-watch", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &handle);
  napi_async_init(env, handle, name, &w->context);
  uv_poll_start(poll, UV_READABLE, on_readable);
  uv_unref((uv_handle_t *)poll);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, watch_close, NULL, &close_fn);
  napi_set_named_property(env, handle, "close", close_fn);
  napi_create_function(env, "own", NAPI_AUTO_LENGTH, watch_own, NULL, &close_fn);
  napi_set_named_property(env, handle, "own", close_fn);
  napi_wrap(env, handle, w, watch_finalize, NULL, NULL);
  return handle;
}

/* scan(notifications: Buffer, table: string, own?: number[]): how many foreign transactions in it
 * weakened the table, `own` the pids told with own() (the watch's own reading, for unit tests). */
static napi_value scan_js(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len, n;
  char table[64];
  if (argc < 2 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok || napi_get_value_string_utf8(env, argv[1], table, sizeof table, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "scan(notifications: Buffer, table: string)");
    return NULL;
  }
  struct watcher w = {0};
  uint32_t count = 0;
  bool is_array = false;
  if (argc > 2 && napi_is_array(env, argv[2], &is_array) == napi_ok && is_array) napi_get_array_length(env, argv[2], &count);
  for (uint32_t i = 0; i < count && i < sizeof w.children / sizeof w.children[0]; i++) {
    napi_value item;
    int32_t pid = 0;
    napi_get_element(env, argv[2], i, &item);
    napi_get_value_int32(env, item, &pid);
    w.children[w.next_child++] = pid;
  }
  napi_value out;
  napi_create_int32(env, scan(&w, &w.relevant, table, data, len), &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "exchangeAsync", NAPI_AUTO_LENGTH, exchange_async, NULL, &fn);
  napi_set_named_property(env, exports, "exchangeAsync", fn);
  napi_create_function(env, "watch", NAPI_AUTO_LENGTH, watch, NULL, &fn);
  napi_set_named_property(env, exports, "watch", fn);
  napi_create_function(env, "scan", NAPI_AUTO_LENGTH, scan_js, NULL, &fn);
  napi_set_named_property(env, exports, "scan", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
