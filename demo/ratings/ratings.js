// The demo shop's ratings service: a mesh-unaware Node (stdlib only) app.
// It knows nothing about Weft: it listens on $PORT and answers
// GET /ratings/ID with the product's stars.
'use strict';

const http = require('http');

const port = Number(process.env.PORT || 8080);
const version = process.env.RATINGS_VERSION || 'v1';

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"ok":true}');
    return;
  }
  const id = req.url.split('/').filter(Boolean).pop() || '1';
  // Stars are a pure function of the ID, so every instance agrees.
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) % 1000;
  const body = JSON.stringify({
    service: 'ratings', version, runtime: 'node ' + process.version,
    product: id, stars: 3 + (h % 3), reviews: 10 + h,
  });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});

server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => {
  console.log(`ratings (node ${process.version}) on 127.0.0.1:${port}`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref(); // kept-alive callers
});
