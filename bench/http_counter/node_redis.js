// Peer 2 of bench/http_counter: Node's http module + Redis (redis@4 client).
// Each GET /counter sends INCR and answers with the new value once Redis has
// replied. The Redis server run by run.sh has `appendonly yes` and
// `appendfsync always`: Redis writes and fsyncs the AOF before it sends the
// replies of an event-loop iteration, so the INCR is durable when its reply
// arrives. (Redis groups the writes of one iteration into one fsync, and the
// client pipelines concurrent commands on its one connection.)
//
//   node node_redis.js PORT REDIS_PORT
"use strict";
const http = require("http");
const { createClient } = require("redis");

const [port, redisPort] = process.argv.slice(2);
if (!port || !redisPort) {
  console.error("usage: node node_redis.js PORT REDIS_PORT");
  process.exit(2);
}

async function main() {
  const redis = createClient({ socket: { host: "127.0.0.1", port: Number(redisPort) } });
  redis.on("error", (err) => console.error("redis:", err.message));
  await redis.connect();

  const server = http.createServer((req, res) => {
    if (req.url === "/counter") {
      redis.incr("counter").then(
        (value) => {
          res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
          res.end("Counter: " + value);
        },
        (err) => {
          res.writeHead(500);
          res.end(String(err.message) + "\n");
        });
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  server.keepAliveTimeout = 30000;
  server.listen(Number(port), "127.0.0.1");

  const stop = () => server.close(() => redis.quit().finally(() => process.exit(0)));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
