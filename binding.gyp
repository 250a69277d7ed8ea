{
  "targets": [
    {
      "target_name": "nfnetlink",
      "sources": ["native/nfnetlink.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
