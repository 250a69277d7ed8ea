// What `portcullis server` says on start, one line each: which configuration tree it read, which jails
// run with which log files and ban actions, and where its log goes. A new admin on a host where
// Debian's fail2ban is installed otherwise silently runs /etc/fail2ban's jails.
import type { Config } from '../config/model.js';

export function startSummary(config: Config, builtinDir: string): string[] {
  const lines = [
    config.dir === null
      ? `portcullis: configuration: the built-in defaults (${builtinDir}); no /etc/fail2ban, and no -c DIR`
      : `portcullis: configuration: ${config.dir} (over the built-in defaults)`,
  ];
  if (config.jails.length === 0) lines.push('portcullis: no jail is enabled; nothing will be banned');
  for (const jail of config.jails) {
    const logs = jail.backend.startsWith('systemd')
      ? 'the systemd journal'
      : jail.logpaths.map((p) => p.pattern).join(', ') || 'no log file';
    const actions = jail.actions.map((a) => a.name).join(', ') || 'no action';
    lines.push(`portcullis: jail ${jail.name}: reads ${logs}; bans with ${actions}`);
  }
  for (const warning of config.warnings) lines.push(`portcullis: warning: ${warning}`);
  const target = config.server.logtarget;
  const upper = target.toUpperCase();
  lines.push(
    upper === 'STDOUT' || upper === 'SYSOUT'
      ? 'portcullis: log: here (logtarget STDOUT)'
      : upper === 'STDERR'
        ? 'portcullis: log: standard error (logtarget STDERR)'
        : upper === 'SYSLOG' || upper === 'SYSTEMD-JOURNAL'
          ? 'portcullis: log: syslog (logtarget SYSLOG)'
          : `portcullis: log: ${target} (--logtarget STDOUT shows it here)`,
  );
  return lines;
}
