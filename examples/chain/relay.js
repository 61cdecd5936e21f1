// A relay: forwards each token to the next relay until it has made `hops`
// hops, then reports it finished to the driver. Every (token, hop) must be
// seen exactly once somewhere in the cluster, and each channel in order.
var fifo = require('../common/fifo');
var seen = {};           // "token@hop" -> node it came from
var duplicates = [];
var fifoViolations = [];
var lastSeqFrom = {};
var nextSeqTo = {};

var send = fifo.sender(nextSeqTo);  // examples/common/fifo.js

function nextRelay(id, hop) {
  var relays = ken.peers.filter(function (p) { return p.indexOf('relay') === 0; });
  var h = 0;
  for (var i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) % 1000003;
  return relays[(h + hop * 7) % relays.length];
}

ken.receive(function (msg, from) {
  fifo.checkOrder(lastSeqFrom, fifoViolations, msg, from);
  if (msg.type !== 'token') return;
  var key = msg.id + '@' + msg.hop;
  if (key in seen) { duplicates.push(key); return; }
  seen[key] = from;
  if (msg.hop >= msg.hops) {
    send(msg.driver, { type: 'finished', id: msg.id, hop: msg.hop });
  } else {
    send(nextRelay(msg.id, msg.hop), { type: 'token', id: msg.id, hop: msg.hop + 1, hops: msg.hops, driver: msg.driver });
  }
});
