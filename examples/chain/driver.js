// The chain driver: keeps `window` tokens travelling through the relays,
// each for `hops` hops, starting a new one whenever one finishes, until
// `limit` tokens were started.
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

function send(dest, msg) {
  nextSeqTo[dest] = (nextSeqTo[dest] || 0) + 1;
  msg.chanSeq = nextSeqTo[dest];
  ken.send(dest, msg);
}

function start() {
  issued++;
  send(relays[issued % relays.length], { type: 'token', id: 'k' + issued, hop: 1, hops: hops, driver: ken.me });
}

ken.receive(function (msg, from) {
  var expected = (lastSeqFrom[from] || 0) + 1;
  if (msg.chanSeq !== expected) fifoViolations.push({ from: from, got: msg.chanSeq, expected: expected });
  lastSeqFrom[from] = msg.chanSeq;
  if (msg.type !== 'finished') return;
  if (msg.id in finished) { duplicates.push(msg.id); return; }
  finished[msg.id] = msg.hop;
  finishedCount++;
  if (issued < limit) start();
});

for (var i = 0; i < window; i++) start();
