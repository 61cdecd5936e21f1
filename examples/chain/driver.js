// The chain driver: keeps `window` tokens travelling through the relays,
// each for `hops` hops, starting a new one whenever one finishes, until
// `limit` tokens were started.
var fifo = require('../common/fifo');
var relays = ken.peers.filter(function (p) { return p.indexOf('relay') === 0; });
var window = 8;
var hops = 40;
var limit = Infinity;
var issued = 0;
var finished = {};
var finishedCount = 0;
var duplicates = [];
var fifoViolations = [];
var lastSeqFrom = {};
var nextSeqTo = {};

var send = fifo.sender(nextSeqTo);  // examples/common/fifo.js

function start() {
  issued++;
  send(relays[issued % relays.length], { type: 'token', id: 'k' + issued, hop: 1, hops: hops, driver: ken.me });
}

ken.receive(function (msg, from) {
  fifo.checkOrder(lastSeqFrom, fifoViolations, msg, from);
  if (msg.type !== 'finished') return;
  if (msg.id in finished) { duplicates.push(msg.id); return; }
  finished[msg.id] = msg.hop;
  finishedCount++;
  if (issued < limit) start();
});

for (var i = 0; i < window; i++) start();
