// Preloaded into a process under test (`--require` this file, MODULE_LIST_FILE=path): when the process
// exits, node's own list of the modules it loaded (process.moduleLoadList: `NativeModule worker_threads`,
// `Internal Binding crypto`…) is written to MODULE_LIST_FILE, one a line. A worker thread exits before
// its process, so the file holds the main thread's list. CommonJS, preloaded with --require: `--import`
// would start node's ES module loader, which itself loads fs/promises and readline's interface, two of
// the modules the test asserts the fail2ban-server bin does not load.
import fs = require('node:fs');

const out = process.env['MODULE_LIST_FILE'];
if (out) process.on('exit', () => fs.writeFileSync(out, (process as unknown as { moduleLoadList: string[] }).moduleLoadList.join('\n')));
