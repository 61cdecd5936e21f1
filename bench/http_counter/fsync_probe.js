// Disk floor for bench/http_counter/run.sh: the p50 time of write() + fsync()
// of BYTES bytes to a new file in DIR (what a Ken commit of a BYTES-byte heap
// snapshot would cost if it were only I/O), and of a 100-byte append + fsync to
// one file (roughly what one SQLite WAL or Redis AOF commit costs), and of a
// SQLite transaction like Ken's store commit (WAL, synchronous=FULL: insert a
// BYTES-byte blob, delete all but the newest three rows), with no V8 work.
//
//   node fsync_probe.js DIR BYTES [ITERATIONS]
"use strict";
const fs = require("fs");
const path = require("path");

const [dir, bytesArg, itersArg] = process.argv.slice(2);
const bytes = Number(bytesArg);
const iterations = Number(itersArg || 50);
if (!dir || !(bytes > 0)) {
  console.error("usage: node fsync_probe.js DIR BYTES [ITERATIONS]");
  process.exit(2);
}

const p50 = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

const blob = Buffer.alloc(bytes, 0x5a);
const whole = [];
for (let i = 0; i < iterations; i++) {
  const file = path.join(dir, `probe-${i}`);
  const t0 = process.hrtime.bigint();
  const fd = fs.openSync(file, "w");
  fs.writeSync(fd, blob);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  whole.push(ms(t0));
  fs.unlinkSync(file);
}

const small = Buffer.alloc(100, 0x5a);
const file = path.join(dir, "probe-append");
const fd = fs.openSync(file, "a");
const append = [];
for (let i = 0; i < iterations; i++) {
  const t0 = process.hrtime.bigint();
  fs.writeSync(fd, small);
  fs.fsyncSync(fd);
  append.push(ms(t0));
}
fs.closeSync(fd);
fs.unlinkSync(file);

const Database = require("better-sqlite3");
const db = new Database(path.join(dir, "probe.sqlite"));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.exec("CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, heap BLOB NOT NULL)");
const insert = db.prepare("INSERT INTO checkpoints (seq, heap) VALUES (?, ?)");
const prune = db.prepare("DELETE FROM checkpoints WHERE seq <= ?");
const commit = db.transaction((seq) => { insert.run(seq, blob); prune.run(seq - 3); });
const sqlite = [];
for (let i = 1; i <= iterations; i++) {
  const t0 = process.hrtime.bigint();
  commit(i);
  sqlite.push(ms(t0));
}
db.close();
for (const f of ["probe.sqlite", "probe.sqlite-wal", "probe.sqlite-shm"]) fs.rmSync(path.join(dir, f), { force: true });

console.log(`sqlite_blob_commit_ms=${p50(sqlite).toFixed(2)} write_fsync_ms=${p50(whole).toFixed(2)} append_fsync_ms=${p50(append).toFixed(2)}`);
