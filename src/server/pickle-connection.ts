// One connection speaking Fail2Ban's protocol: each message is a pickle followed by `<F2B_END_COMMAND>`,
// answered the same way; `<F2B_CLOSE_COMMAND>` ends the connection. A message over the size limit, or one
// that is not an acceptable pickle, gets an error reply and the connection is closed: a client that sends
// garbage cannot be trusted to be in step any more. Other connections and the bans are never affected.
import type { Socket } from 'node:net';
import type { ControlHandler } from './control-protocol.js';
import { PickleError, PyException, PyTuple, type PyValue, decodePickle, encodePickle } from './pickle.js';
import { transmit } from './pickle-transmitter.js';

export const endMarker = Buffer.from('<F2B_END_COMMAND>');
export const closeMarker = Buffer.from('<F2B_CLOSE_COMMAND>');

function frame(value: PyValue): Buffer {
  return Buffer.concat([encodePickle(value), endMarker]);
}

/** `(1, Exception(message))`: Fail2Ban's client prints the message and exits 255. */
function errorFrame(message: string): Buffer {
  return frame(new PyTuple([1, new PyException('builtins', 'Exception', [message])]));
}

export function servePickle(socket: Socket, handler: ControlHandler, maxBytes: number): void {
  let pending: Buffer = Buffer.alloc(0);
  // Messages are answered in order, one at a time; the socket is paused meanwhile, so a client that
  // pipelines cannot queue work without bound.
  let busy = false;
  let closing = false;

  const refuse = (message: string): void => {
    closing = true;
    socket.removeAllListeners('data');
    socket.end(errorFrame(message));
  };

  const answer = async (message: Buffer): Promise<void> => {
    let decoded: PyValue;
    try {
      decoded = decodePickle(message);
      const { reply, stop } = await transmit(handler, decoded);
      if (socket.destroyed) return;
      await new Promise<void>((resolve) => socket.write(frame(reply), () => resolve()));
      if (stop) {
        try {
          await handler.stop();
        } catch {
          // The reply is out; a failing shutdown is the daemon's to log.
        }
      }
    } catch (err) {
      if (socket.destroyed) return;
      if (err instanceof PickleError) return refuse(`refused request: ${err.message}`);
      refuse(`internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  const drain = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    socket.pause();
    try {
      for (let end = pending.indexOf(endMarker); end !== -1 && !closing; end = pending.indexOf(endMarker)) {
        const message = pending.subarray(0, end);
        pending = pending.subarray(end + endMarker.length);
        if (message.equals(closeMarker)) {
          closing = true;
          socket.end();
          return;
        }
        await answer(message);
      }
    } finally {
      busy = false;
      if (!closing && !socket.destroyed) socket.resume();
    }
  };

  socket.on('data', (chunk: Buffer) => {
    if (closing) return;
    if (pending.length + chunk.length > maxBytes + endMarker.length && pending.indexOf(endMarker) === -1) {
      const whole = Buffer.concat([pending, chunk]);
      const end = whole.indexOf(endMarker);
      if (end === -1 || end > maxBytes) return refuse(`request longer than ${maxBytes} bytes`);
    }
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    void drain();
  });
}
