#!/usr/bin/env python3
"""Fail2Ban's own engine over a log, as `portcullis replay --json` reports it.

Usage: fail2ban-engine.py CONFIG_DIR LOG [CONFIG_DIR LOG ...]   (one JSON line per pair on stdout)

Nothing here re-implements Fail2Ban. The jails come from Fail2Ban's own config reader (JailsReader over
CONFIG_DIR, the same tree portcullis reads) applied through its own Transmitter to a real Server object,
with a real in-memory Fail2BanDb. Each line then goes through the real Filter.processLineAndAdd (which
drives the real FailManager), the real Actions.__checkBan / __checkUnBan (BanManager) and the real
ObserverThread methods (failureFound, banFound: weighting and bantime.increment), the way Fail2Ban's own
test suite drives them: threads not started, the clock set with MyTime.setTime.

Two things the threads would do asynchronously are done synchronously, in the order a live daemon
reaches them on an idle machine: the observer handles each event as soon as it is queued (a tiny shim
calls the observer's method instead of queuing), and before each line the actions thread lifts bans that
are over and the filter's cleanup drops failures older than findtime (its service timer runs every few
seconds; here every line, which is what portcullis does).
"""
import json
import logging
import sys

from fail2ban.client.jailsreader import JailsReader
from fail2ban.server.mytime import MyTime
from fail2ban.server.observer import ObserverThread, Observers
from fail2ban.server.server import Server
from fail2ban.server.transmitter import Transmitter


class SyncObserver:
    """Observers.Main: runs each event at once on the real ObserverThread (not started)."""

    def __init__(self):
        self.real = ObserverThread()
        # A prolonged ban re-runs actions after a delay (a timer thread); there are no actions here.
        self.real.add_timer = lambda *args: None

    def add(self, name, *args):
        getattr(self.real, name)(*args)

    def __getattr__(self, name):
        return getattr(self.real, name)


def load_jails(config_dir):
    reader = JailsReader(basedir=config_dir)
    if not reader.read() or not reader.getOptions():
        raise SystemExit('fail2ban-engine: cannot read jails from %s' % config_dir)
    server = Server(daemon=False)
    server.setDatabase(':memory:')
    transmitter = Transmitter(server)
    for command in reader.convert(allow_no_files=True):
        # Reading the logs and running threads is this script's job.
        if command[0] == 'start' or (len(command) > 2 and command[2] in ('addlogpath', 'addjournalmatch')):
            continue
        transmitter.proceed(command)
    jails = []
    for name in server._Server__jails:
        jail = server._Server__jails[name]
        jail.isAlive = lambda: True  # the observer only acts for running jails
        jails.append(jail)
    return jails


def run(config_dir, log):
    Observers.Main = None
    jails = load_jails(config_dir)
    Observers.Main = SyncObserver()
    bans = []
    for jail in jails:
        manager = jail.actions.banManager
        # Every ban the BanManager accepts (a prolonging ticket is refused and changes the running one).
        def add(ticket, reason={}, add=manager.addBanTicket, name=jail.name):
            made = add(ticket, reason=reason)
            if made:
                bans.append((name, ticket))
            return made
        manager.addBanTicket = add
    clock = 0
    first = jails[0].filter
    with open(log, encoding='utf-8', errors='surrogateescape') as f:
        for line in f:
            line = line.rstrip('\n')
            found = first.dateDetector.getTime(line)
            if found is not None and found[0] > clock:
                clock = found[0]
            MyTime.setTime(clock)
            for jail in jails:
                jail.actions._Actions__checkUnBan(0x7fffffff)
                jail.filter.failManager.cleanup(clock)
                jail.filter.processLineAndAdd(line)
                while jail.hasFailTickets:
                    jail.actions._Actions__checkBan()
    out = []
    for name, ticket in bans:
        out.append({
            'jail': name,
            'ip': str(ticket.getID()),
            'time': ticket.getTime(),
            'bantime': ticket.getBanTime(jail_bantime(jails, name)),
            'failures': ticket.getAttempt(),
            'banCount': ticket.getBanCount(),
        })
    return {'bans': out}


def jail_bantime(jails, name):
    for jail in jails:
        if jail.name == name:
            return jail.actions.getBanTime()
    return None


def main(argv):
    # Quiet, and faster: Fail2Ban formats many log messages otherwise. Levels change no decision.
    logging.getLogger('fail2ban').setLevel(logging.CRITICAL)
    if len(argv) < 2 or len(argv) % 2:
        raise SystemExit('usage: fail2ban-engine.py CONFIG_DIR LOG [CONFIG_DIR LOG ...]')
    for i in range(0, len(argv), 2):
        print(json.dumps(run(argv[i], argv[i + 1])), flush=True)


if __name__ == '__main__':
    main(sys.argv[1:])
