// Builds the daemon's fleet link from the server settings: null when `fleet` is not set, so a daemon
// without it runs exactly as before. State goes in the ban database when there is a file.
import type { ServerSettings } from '../config/model.js';
import { FleetMemoryStore, FleetSqliteStore, type FleetState } from '../store/fleet-store.js';
import { Fleet, type FleetDeps } from './fleet.js';

export function openFleet(server: ServerSettings, deps: Omit<FleetDeps, 'state'>): Fleet | null {
  if (!server.fleet) return null;
  const file = server.dbfile.toLowerCase() !== 'none' && server.dbfile !== ':memory:';
  let state: FleetState = new FleetMemoryStore();
  try {
    if (file) state = new FleetSqliteStore(server.dbfile);
  } catch (err) {
    // Sharing goes on; only the read position and the outbox do not survive a restart.
    deps.log('ERROR', `fleet: cannot keep its state in ${server.dbfile}: ${(err as Error).message}; keeping it in memory`);
  }
  return new Fleet(server.fleet, { ...deps, state });
}

/** The longest bantime of these jails (how long the stream keeps a message); -1 when one is permanent. */
export function longestBantime(bantimes: Iterable<number>): number {
  let longest = 0;
  for (const b of bantimes) {
    if (b < 0) return -1;
    longest = Math.max(longest, b);
  }
  return longest;
}
