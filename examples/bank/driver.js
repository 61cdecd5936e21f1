// The driver: keeps `window` random transfers in flight between accounts of
// the bank nodes (every peer whose id starts with "bank"), issuing a new one
// whenever one is done, until `limit` transfers were issued. Set `limit`
// (e.g. `ken cluster eval cluster.yaml driver 'limit = issued'`) to stop.
var fifo = require('../common/fifo');
var banks = ken.peers.filter(function (p) { return p.indexOf('bank') === 0; });
var window = 16;
var limit = Infinity;
var issued = 0;
var done = {};           // transfer id -> true (applied) / false (rejected)
var doneCount = 0;
var okCount = 0;
var duplicates = [];
var fifoViolations = [];
var lastSeqFrom = {};
var nextSeqTo = {};
var seed = 12345;        // a seeded generator, so a run can be replayed

function random(n) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
}

var send = fifo.sender(nextSeqTo);  // examples/common/fifo.js

function issue() {
  issued++;
  var src = banks[random(banks.length)];
  var dst = banks[random(banks.length)];
  send(src, {
    type: 'transfer', id: 't' + issued, driver: ken.me,
    from: src + '/a' + random(10), to: dst + '/a' + random(10), amount: 1 + random(200),
  });
}

ken.receive(function (msg, from) {
  fifo.checkOrder(lastSeqFrom, fifoViolations, msg, from);
  if (msg.type !== 'done') return;
  if (msg.id in done) { duplicates.push(msg.id); return; }
  done[msg.id] = msg.ok;
  doneCount++;
  if (msg.ok) okCount++;
  if (issued < limit) issue();
});

for (var i = 0; i < window; i++) issue();
