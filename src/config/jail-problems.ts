// Jails Fail2Ban would not start: a filter file that does not exist (Fail2Ban skips the jail) or no
// log file at all (Fail2Ban refuses to start). portcullis runs the other jails and the jail itself,
// says so in the log and in `status`, and `fail2ban-client -t` fails as Fail2Ban's does.
import { globPaths } from '../files/glob.js';
import type { Config } from './model.js';

/** Problems by jail name, in Fail2Ban's words where it has some; jails without any are absent. */
export function jailProblems(config: Config): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const jail of config.jails) {
    const list = config.warnings.filter((w) => w.startsWith(`jail "${jail.name}" asks for filter `));
    if (jail.backend !== 'systemd' && jail.logpaths.length > 0 && jail.logpaths.every((p) => globPaths(p.pattern).length === 0)) {
      list.push(`Have not found any log file for ${jail.name} jail (logpath ${jail.logpaths.map((p) => p.pattern).join(', ')})`);
    }
    if (list.length > 0) out.set(jail.name, list);
  }
  return out;
}
