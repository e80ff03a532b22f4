// The stack config the unit tests start from: two machines (one by name, one by address), a key shaped
// like a private key (but not one), NORMAL. Each test changes what it is about.
export const SLAYER_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGjSeuXT3SqlAH7BNVe15C8DL+wmlGgjKcrSsposjiVV';
export const MEGADETH_KEY =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBN7ZhcrDNKKj19yqzS8TDhUnB0uwgkN9QWQq8YRGmjfIFappv3z9flxPF2trqV4eXQUgOiECbQAZNBrAgRnblYc=';
export const PRIVATE_KEY =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACBo0nrl090qpQ==\n-----END OPENSSH PRIVATE KEY-----\n';

export const BASE = {
  primary: { name: 'slayer', address: 'slayer.example.net', hostKey: SLAYER_KEY },
  secondary: { name: 'megadeth', address: '10.20.0.2', hostKey: MEGADETH_KEY },
  sshPrivateKey: PRIVATE_KEY,
  primaryStatus: 'production',
  secondaryStatus: 'standby',
  serviceIp: '192.0.2.46',
};

/** BASE as `pulumi config --json --show-secrets` prints it: `sounz:` keys, objects as JSON text. */
export function configEntriesOf(raw: Record<string, unknown>, secretKeys: string[] = ['sshPrivateKey']) {
  return Object.fromEntries(Object.entries(raw).map(([key, value]) => [`sounz:${key}`,
    { value: typeof value === 'string' ? value : JSON.stringify(value), secret: secretKeys.includes(key) }]));
}
