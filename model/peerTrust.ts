// The trust between the two hosts of a pair over rsync (issue 27): their daemons serve only a client
// that knows the pair's password, and a receiver copies only from a daemon that serves the proof token,
// which only a holder of the password can have. Both derived from the stack's SSH private key secret:
// a new config key would have to be set on every stack before its next up, and this one turns over
// with the key, on both hosts in the same up. HMAC-SHA256 is one-way: neither value gives the key away.
import { createHmac } from 'crypto';

/** The one user of the daemons (`auth users`): the peer's sounz-replicate and guard. */
export const PEER_USER = 'sounz-peer';
/** The module of each daemon that serves the proof token, behind the password like every module. */
export const PROOF_MODULE = 'sounz-proof';
/** Root-only files on every host, written with the replication command: the client's side of the trust. */
export const PEER_PASSWORD_FILE = '/etc/sounz/rsync-peer.password';
export const PEER_PROOF_FILE = '/etc/sounz/rsync-peer.proof';

/** The pair's rsync password: one per pair (the pair's names are in the label). */
export function peerPassword(sshPrivateKey: string, pair: string): string {
  return createHmac('sha256', sshPrivateKey).update(`sounz-standby rsync password ${pair}`).digest('hex');
}

/** What a daemon of the pair serves to prove it knows the password (the password itself never leaves a host). */
export function proofToken(password: string): string {
  return createHmac('sha256', password).update('sounz-standby rsync daemon proof').digest('hex');
}
