// The guard every test runs under (test/support/netGuard.ts, jest's setupFiles).
import net from 'net';

test('a connection to an address outside the sandbox or a host name other than localhost fails before any packet', () => {
  expect(() => net.connect(22, '10.20.0.2')).toThrow('test network guard: 10.20.0.2 is neither a sandbox host');
  expect(() => net.connect({ host: 'slayer.example.net', port: 22 })).toThrow('test network guard: slayer.example.net');
  expect(() => new net.Socket().connect(443, '192.0.2.1')).toThrow('test network guard: 192.0.2.1');
});

test('this machine stays reachable: a local server answers', async () => {
  const server = net.createServer((socket) => socket.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  try {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, 'localhost');
      let text = '';
      socket.on('data', (chunk) => { text += String(chunk); }).on('end', () => resolve(text)).on('error', reject);
    });
    expect(answer).toBe('hello');
  } finally {
    server.close();
  }
});
