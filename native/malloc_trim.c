/*
 * trim(): hands the C heap's free pages back to the kernel (glibc's malloc_trim). Why: glibc keeps what
 * node's threads freed, V8's compiler zones above all (a start-up that optimises a few functions leaves
 * ~2.5 MB free but resident in the V8 worker thread's arena), and never returns it while the daemon
 * idles. Node has no call for it. Other C libraries (musl) return memory themselves: there, a no-op.
 */
#include <node_api.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value trim(napi_env env, napi_callback_info info) {
  int released = 0;
#ifdef __GLIBC__
  released = malloc_trim(0);
#endif
  napi_value result;
  napi_get_boolean(env, released != 0, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &fn);
  napi_set_named_property(env, exports, "trim", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
