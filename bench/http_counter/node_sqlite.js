// Peer 1 of bench/http_counter: Node's http module + better-sqlite3.
// Each GET /counter runs one SQLite transaction (autocommit) that increments
// a row and returns the new value; with WAL and synchronous=FULL the commit
// fsyncs the WAL before .get() returns, so the response is sent only after
// the new value is durable. better-sqlite3 is synchronous: one commit (and
// one fsync) per request, no group commit.
//
//   node node_sqlite.js PORT DB_PATH
"use strict";
const http = require("http");
const Database = require("better-sqlite3");

const [port, dbPath] = process.argv.slice(2);
if (!port || !dbPath) {
  console.error("usage: node node_sqlite.js PORT DB_PATH");
  process.exit(2);
}

const db = new Database(dbPath);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)");
db.exec("INSERT OR IGNORE INTO counter (id, value) VALUES (1, 0)");
const increment = db.prepare("UPDATE counter SET value = value + 1 WHERE id = 1 RETURNING value");

const server = http.createServer((req, res) => {
  if (req.url === "/counter") {
    const { value } = increment.get();  // committed and fsync'd when this returns
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
    res.end("Counter: " + value);
  } else {
    res.writeHead(404);
    res.end();
  }
});
server.keepAliveTimeout = 30000;
server.listen(Number(port), "127.0.0.1");

const stop = () => server.close(() => { db.close(); process.exit(0); });
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
