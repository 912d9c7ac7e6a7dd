// Processes for bench/proxy, one role each (`node proxy-servers.js ROLE PORT [UPSTREAM]`):
// the fast upstream, a slow (2 s), a slow-and-large (10 MB streamed over 4.8 s) and a hanging
// candidate, the minimal keep-alive node:http
// proxy (the floor any Node proxy must beat), and http-proxy with a keep-alive agent. Each
// says {ready: port} over IPC once listening.
'use strict';
const http = require('node:http');
const net = require('node:net');

const [role, portText, upstream] = process.argv.slice(2);
const port = Number(portText);
const body = Buffer.from(JSON.stringify({ orderId: 'A-1', status: 'PAID', total: 36000, items: Array.from({ length: 8 }, (_, i) => ({ sku: `SKU-${i}`, qty: 1 })) }));

function answer(req, res) {
  // Read the request body to the end, then answer: what a real service does.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
}

let server;
switch (role) {
  case 'upstream':
    server = http.createServer({ keepAliveTimeout: 60_000 }, answer);
    break;
  case 'slow':
    server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => setTimeout(() => answer(req, res), 2000));
    break;
  case 'big-slow':
    // 10 MB in 160 chunks of 64 KB, one every 30 ms: 4.8 s, just under the 5 s mirror timeout.
    server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(65_536, 0x61);
      let n = 0;
      const timer = setInterval(() => {
        if (res.destroyed || ++n > 160) {
          clearInterval(timer);
          return void res.end();
        }
        res.write(chunk);
      }, 30);
      res.on('close', () => clearInterval(timer));
    });
    break;
  case 'hang':
    // Accepts connections and never answers: a black hole past the TCP handshake.
    server = net.createServer((socket) => socket.on('error', () => {}));
    break;
  case 'minimal': {
    const target = new URL(upstream);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
      const out = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      });
      out.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.pipe(out);
    });
    break;
  }
  case 'http-proxy': {
    const httpProxy = require('http-proxy');
    const proxy = httpProxy.createProxyServer({ target: upstream, agent: new http.Agent({ keepAlive: true, maxSockets: 256 }), xfwd: true });
    proxy.on('error', (_err, _req, res) => {
      if (res.writeHead && !res.headersSent) res.writeHead(502);
      res.end();
    });
    server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => proxy.web(req, res));
    break;
  }
  default:
    throw new Error(`unknown role ${role}`);
}
server.listen(port, '127.0.0.1', () => process.send?.({ ready: server.address().port }));
process.on('SIGTERM', () => process.exit(0));
