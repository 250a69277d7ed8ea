// docker-mailserver's environment variables, as its "Security | Fail2Ban" page documents them.
import { UserError } from '../errors.js';

export type BlockType = 'drop' | 'reject';

export interface DmsEnvironment {
  /** ENABLE_FAIL2BAN=1 runs the daemon; 0 (DMS's default) means it does not run at all. */
  enabled: boolean;
  /** FAIL2BAN_BLOCKTYPE: exactly `reject` rejects; anything else drops, as in DMS. */
  blocktype: BlockType;
  /** NETWORK_INTERFACE (e.g. `tap0` under rootless Podman): ban rules are limited to this input interface. */
  networkInterface: string | null;
}

// Linux interface names: at most 15 bytes, no slash, no whitespace. Checked here because the name
// ends up in firewall rules.
const interfaceName = /^[A-Za-z0-9_.:@-]{1,15}$/;

export function readDmsEnvironment(env: NodeJS.ProcessEnv): DmsEnvironment {
  const enable = (env['ENABLE_FAIL2BAN'] ?? '0').trim();
  if (enable !== '0' && enable !== '1') {
    throw new UserError(`ENABLE_FAIL2BAN must be 0 or 1, not '${enable}'`);
  }
  const iface = env['NETWORK_INTERFACE']?.trim() || null;
  if (iface !== null && !interfaceName.test(iface)) {
    throw new UserError(`NETWORK_INTERFACE '${iface}' is not a valid interface name (e.g. eth0, tap0)`);
  }
  return {
    enabled: enable === '1',
    blocktype: env['FAIL2BAN_BLOCKTYPE'] === 'reject' ? 'reject' : 'drop',
    networkInterface: iface,
  };
}
