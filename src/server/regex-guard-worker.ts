// The thread behind regex-guard.ts: runs one regex on the texts it is handed, one at a time. The parent
// waits for each answer with a deadline and terminates this thread when it is late.
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';

interface Setup {
  source: string;
  flags: string;
  state: SharedArrayBuffer;
  port: MessagePort;
}

const { source, flags, state, port } = workerData as Setup;
const re = new RegExp(source, flags);
const ctl = new Int32Array(state);
Atomics.store(ctl, 0, 0);
Atomics.notify(ctl, 0);
parentPort?.unref();
for (;;) {
  Atomics.wait(ctl, 0, 0);
  const req = receiveMessageOnPort(port)?.message as { text: string } | undefined;
  if (req !== undefined) {
    const m = re.exec(req.text);
    port.postMessage(m === null ? null : { index: m.index, all: [...m], groups: m.groups === undefined ? undefined : { ...m.groups } });
  }
  Atomics.store(ctl, 0, 2);
  Atomics.notify(ctl, 0);
}
