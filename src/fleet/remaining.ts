// A ban received from the fleet keeps its own start and end: the receiving jail holds it for the time
// that remains, not a fresh bantime, and one that ended while the node was away is not applied.
import type { BanTicket } from '../jail/bans.js';
import type { FleetBan } from './message.js';

/** The ban as a ticket of `jail`; the firewall's timeout (end − now) is the remaining time. */
export function ticketOf(ban: FleetBan, jail: string): BanTicket {
  return {
    ip: ban.ip,
    jail,
    time: ban.start,
    bantime: ban.end === -1 ? -1 : ms(ban.end - ban.start),
    banCount: ban.banCount,
    failures: ban.failures,
    matches: [],
  };
}

/** Seconds the ban still runs at `now`: Infinity when permanent, 0 or less when over. */
export function remaining(ban: Pick<FleetBan, 'end'>, now: number): number {
  return ban.end === -1 ? Number.POSITIVE_INFINITY : ban.end - now;
}

/** A ticket made here, as the fleet message that publishes it. */
export function banOf(ticket: BanTicket, origin: string): FleetBan {
  return {
    kind: 'ban',
    origin,
    jail: ticket.jail,
    ip: ticket.ip,
    start: ms(ticket.time),
    end: ticket.bantime < 0 ? -1 : ms(ticket.time + ticket.bantime),
    failures: ticket.failures,
    banCount: Math.max(1, ticket.banCount),
  };
}

/** Times travel to the millisecond, so the receiver's start and bantime are the sender's exactly. */
function ms(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
