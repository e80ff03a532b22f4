// Who runs a switch or a replication: the OS user on the operator's machine and the fingerprint of
// the SSH key the stack logs in with. The file and PostgreSQL backends record no user with an update
// (only its message, config and the names of PULUMI_* variables), so the operator commands write this
// into the message; the program also exports it, so that a plain `pulumi up` leaves it in the state.
import { createHash } from 'crypto';
import { hostname, userInfo } from 'os';

export interface Operator {
  /** `user@machine`, with the sudo-ing user when there is one: `root@ops (sudo by alice)`. */
  user: string;
  /** The public key's SHA-256 fingerprint as `ssh-keygen -lf` prints it, or `unreadable`. */
  key: string;
}

/** `SHA256:<base64 without padding>` of the private key's public half. */
export function keyFingerprint(privateKey: string): string {
  const { utils } = require('ssh2') as typeof import('ssh2');
  const parsed = utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || !key) return 'unreadable';
  return `SHA256:${createHash('sha256').update(key.getPublicSSH()).digest('base64').replace(/=+$/, '')}`;
}

export function operatorOf(privateKey: string): Operator {
  const sudo = process.env.SUDO_USER;
  const me = userInfo().username;
  return { user: `${me}@${hostname()}${sudo && sudo !== me ? ` (sudo by ${sudo})` : ''}`, key: keyFingerprint(privateKey) };
}

export interface AuditNote {
  operator: Operator;
  /** The stamp of the last good copy ("<time> <source>") as the stack last recorded it. */
  lastCopy?: string;
}

/** The message of an update run by an operator command: `PROCEDURE: reason [operator ..., key ...; last copy ...]`. */
export function auditMessage(procedure: string, reason: string, note: AuditNote): string {
  const copy = note.lastCopy ? `; last copy ${note.lastCopy}` : '';
  return `${procedure}: ${reason} [operator ${note.operator.user}, key ${note.operator.key}${copy}]`;
}

export interface ParsedMessage {
  procedure?: string;
  reason: string;
  operator?: Operator;
  lastCopy?: string;
}

/** The parts of an update's message; a message of a plain `pulumi up` is all reason. */
export function parseAuditMessage(message: string): ParsedMessage {
  const note = /^(.*?) \[operator (.+), key (\S+?)(?:; last copy (.+))?\]$/s.exec(message);
  const text = note ? note[1] : message;
  const head = /^([A-Z][A-Z-]*): (.*)$/s.exec(text);
  return {
    procedure: head?.[1],
    reason: head ? head[2] : text,
    ...(note ? { operator: { user: note[2], key: note[3] }, ...(note[4] ? { lastCopy: note[4] } : {}) } : {}),
  };
}
