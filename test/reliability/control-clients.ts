// A child process of the control-socket flood (reliability case 7): opens COUNT requests at once with
// the real client and prints one JSON line, {"ok": n, "errors": {"message": count}}. Run several of
// these so that no single process's limits (file descriptors, event loop) decide the outcome.
// Usage: node control-clients.js SOCKET COUNT
import { ControlClient } from '../../src/cli/client.js';

const [socket, countText] = process.argv.slice(2);
const count = Number(countText);
const client = new ControlClient(socket!, 60_000);
const errors: Record<string, number> = {};
let ok = 0;
await Promise.all(
  Array.from({ length: count }, async (_, i) => {
    try {
      // Mostly ping, some status: both must be answered correctly.
      if (i % 10 === 0) {
        const status = await client.request({ cmd: 'status', jail: 'dovecot' });
        if (Array.isArray(status.bannedIps)) ok++;
        else errors['bad status reply'] = (errors['bad status reply'] ?? 0) + 1;
      } else if ((await client.request({ cmd: 'ping' })) === 'pong') ok++;
      else errors['bad ping reply'] = (errors['bad ping reply'] ?? 0) + 1;
    } catch (err) {
      const key = (err as Error).message.replace(/\d+/g, 'N');
      errors[key] = (errors[key] ?? 0) + 1;
    }
  }),
);
process.stdout.write(`${JSON.stringify({ ok, errors })}\n`);
