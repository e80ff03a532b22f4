// The SSH runner injected into provider objects by unit tests: no engine, no hosts.
import { CommandResult, RunOptions, Runner, SshTarget } from '../../providers/ssh';

export const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN782BjKimpXEYV9jFxaUC/Nkz+PodQy88k4cbm9beLD';
export const PRIVATE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n';
export const connection = { host: 'slayer', address: '198.51.100.11', sshPort: 22, user: 'root', hostKey: HOST_KEY, privateKey: PRIVATE_KEY };

export interface Call { host: string; argv: string[]; options?: RunOptions }

/** A runner that records each command and answers from `reply`; a non-zero exit throws, as over SSH, unless allowed. */
export function fakeRunner(reply: (call: Call) => Partial<CommandResult> = () => ({})): { run: Runner; calls: Call[] } {
  const calls: Call[] = [];
  const run: Runner = async (target: SshTarget, argv, options) => {
    const call = { host: target.host, argv, options };
    calls.push(call);
    const result = { code: 0, stdout: '', stderr: '', ...reply(call) };
    if (result.code !== 0 && !options?.allowFailure) throw new Error(`${target.host}: failed: ${result.stderr}`);
    return result;
  };
  return { run, calls };
}
