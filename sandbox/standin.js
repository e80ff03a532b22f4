#!/usr/bin/env node
// Stand-ins for the SOUNZ services inside a sandbox host (no npm deps).
//   node standin.js web                      -> HTTP on 0.0.0.0:80: "<hostname> <status>\n"
//   node standin.js apollo start.jar         -> listener on 0.0.0.0:8983 (pidfile /run/apollo/apollo.pid)
//   node standin.js mongrel <port> ruby script/server -> listener on 0.0.0.0:<port> (pidfile /run/sounz/mongrel.<port>.pid)
// Extra argv words are only there so the runbook's `ps ax|grep ...` checks find the processes.
'use strict';
const http = require('http');
const fs = require('fs');
const os = require('os');
const path = require('path');

const mode = process.argv[2];
const STATUS = '/etc/sounz/sounz.status';

function append(file, line) {
  try { fs.appendFileSync(file, line + '\n'); } catch (_) { /* log dir missing: ignore */ }
}
function writePid(file) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, String(process.pid) + '\n');
  const rm = () => { try { if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file); } catch (_) {} };
  process.on('SIGTERM', () => { rm(); process.exit(0); });
  process.on('SIGINT', () => { rm(); process.exit(0); });
}
function status() {
  try { return fs.readFileSync(STATUS, 'utf8').trim(); } catch (_) { return 'unknown'; }
}

let port, pidfile, handler;
if (mode === 'web') {
  port = 80;
  pidfile = '/run/sounz/web.pid';
  handler = (req, res) => {
    const body = `${os.hostname()} ${status()}\n`;
    const now = new Date().toISOString();
    append('/var/log/sounz/apache2/sounz.org.nz-access.log',
      `${req.socket.remoteAddress} - - [${now}] "${req.method} ${req.url} HTTP/${req.httpVersion}" 200 ${Buffer.byteLength(body)}`);
    append('/var/log/sounz/sounz-app/production.log', `${now} Processing ${req.method} ${req.url} (for ${req.socket.remoteAddress})`);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Connection': 'close' });
    res.end(body);
  };
} else if (mode === 'apollo') {
  port = 8983;
  pidfile = '/run/apollo/apollo.pid';
  handler = (req, res) => {
    append('/var/log/apollo/apollo.log', `${new Date().toISOString()} ${req.method} ${req.url}`);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Connection': 'close' });
    res.end(`apollo ${os.hostname()}\n`);
  };
} else if (mode === 'mongrel') {
  port = Number(process.argv[3]);
  if (!Number.isInteger(port) || port <= 0) { console.error('bad port'); process.exit(2); }
  pidfile = `/run/sounz/mongrel.${port}.pid`;
  handler = (req, res) => {
    append('/var/log/sounz/sounz-app/production.log', `${new Date().toISOString()} mongrel ${port} ${req.method} ${req.url}`);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Connection': 'close' });
    res.end(`mongrel ${port} ${os.hostname()} ${status()}\n`);
  };
} else {
  console.error('usage: standin.js web|apollo|mongrel <port>');
  process.exit(2);
}

const server = http.createServer(handler);
server.on('error', (e) => {
  append('/var/log/sounz/apache2/sounz.org.nz-error.log', `${new Date().toISOString()} ${mode} ${port}: ${e.message}`);
  process.exit(1);
});
server.listen(port, '0.0.0.0', () => writePid(pidfile));
