// doctor's check of the policy servers (postfixpolicy, dovecotpolicy): each configured one is asked one
// real question in its own protocol, about a documentation address (RFC 5737) that no jail bans, so the
// check proves the server is there and answers as Postfix or Dovecot would see it.
import { request } from 'node:http';
import { connect } from 'node:net';
import type { PolicyListen, PolicySettings } from '../config/model.js';
import type { ListenAddress } from '../net/listen-address.js';
import { describeListen } from '../policy/policy-servers.js';
import type { Finding } from './doctor-checks.js';

const PROBE_ADDRESS = '192.0.2.1';
const TIMEOUT_MS = 3000;

export async function policyFindings(settings: PolicySettings): Promise<Finding[]> {
  const out: Finding[] = [];
  const { postfix, dovecot } = settings;
  if (postfix) out.push(await probe('postfix', postfix, () => askPostfix(postfix)));
  if (dovecot) out.push(await probe('dovecot', dovecot, () => askDovecot(dovecot)));
  return out;
}

async function probe(which: 'postfix' | 'dovecot', at: PolicyListen, ask: () => Promise<string>): Promise<Finding> {
  const where = describeListen(at);
  try {
    const answer = await ask();
    return { check: 'policy', ok: true, message: `the ${which} policy server on ${where} answers (${answer})` };
  } catch (err) {
    const fallback = which === 'postfix' ? 'default_action=DUNNO keeps mail flowing meanwhile' : 'auth_policy_reject_on_fail = no keeps logins working meanwhile';
    return {
      check: 'policy',
      ok: false,
      message: `the ${which} policy server on ${where} does not answer: ${(err as Error).message}`,
      fix: `start portcullis with ${which}policy set, or correct ${which}policy in fail2ban.local (${fallback})`,
    };
  }
}

/** One SMTPD_POLICY_README request; resolves with the `action=` line. */
function askPostfix(at: PolicyListen): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in at ? connect(at.path) : connect(at.port, at.host);
    let reply = '';
    socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    socket.on('connect', () => socket.write(`request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=${PROBE_ADDRESS}\n\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (!reply.includes('\n\n')) return;
      socket.end();
      const action = /^action=.*$/m.exec(reply)?.[0];
      if (action) resolve(action);
      else reject(new Error(`unexpected reply ${JSON.stringify(reply.slice(0, 80))}`));
    });
    socket.on('error', (err) => reject(new Error(err.message.replace(/^connect /, ''))));
  });
}

/** One `?command=allow` request as Dovecot sends it; resolves with the JSON answer. */
function askDovecot(at: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ login: 'doctor', remote: PROBE_ADDRESS, protocol: 'imap' });
    const req = request({ host: at.host, port: at.port, method: 'POST', path: '/?command=allow', headers: { 'content-type': 'application/json' }, timeout: TIMEOUT_MS }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => void (text += chunk.toString('utf8')));
      res.on('end', () => {
        try {
          const answer = JSON.parse(text) as { status?: unknown };
          if (typeof answer.status !== 'number') throw new Error('no status');
          resolve(`status ${answer.status}`);
        } catch {
          reject(new Error(`HTTP ${res.statusCode} with an answer that is not Dovecot's policy JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', (err) => reject(new Error(err.message.replace(/^connect /, ''))));
    req.end(body);
  });
}
