{
  "targets": [
    {
      "target_name": "nfnetlink",
      "sources": ["native/nfnetlink.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "malloc_trim",
      "sources": ["native/malloc_trim.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
