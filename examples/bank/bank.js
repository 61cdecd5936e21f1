// A bank node: holds accounts <node>/a0 .. <node>/a9 (1000 each at start).
// A transfer is debited here at the source node, then a credit message goes
// to the destination node; the driver is told when it is done. Every message
// carries a per-channel sequence number (chanSeq) so the receiver can check
// FIFO order at the application level.
var fifo = require('../common/fifo');
var ACCOUNTS = 10;
var INITIAL = 1000;
var accounts = {};
for (var i = 0; i < ACCOUNTS; i++) accounts[ken.me + '/a' + i] = INITIAL;

var debits = {};         // transfer id -> amount debited here
var credits = {};        // transfer id -> amount credited here
var rejected = {};       // transfer id -> reason
var duplicates = [];     // request or credit ids seen twice (must stay empty)
var fifoViolations = []; // out-of-order messages (must stay empty)
var lastSeqFrom = {};
var nextSeqTo = {};

var send = fifo.sender(nextSeqTo);  // examples/common/fifo.js

function nodeOf(account) { return account.split('/')[0]; }

function total() {
  var sum = 0;
  for (var k in accounts) sum += accounts[k];
  return sum;
}

ken.receive(function (msg, from) {
  fifo.checkOrder(lastSeqFrom, fifoViolations, msg, from);

  if (msg.type === 'transfer') {
    if (msg.id in debits || msg.id in rejected) { duplicates.push(msg.id); return; }
    if (!(msg.from in accounts)) {
      rejected[msg.id] = 'no such account ' + msg.from;
    } else if (accounts[msg.from] < msg.amount) {
      rejected[msg.id] = 'insufficient funds';
    }
    if (msg.id in rejected) {
      send(msg.driver, { type: 'done', id: msg.id, ok: false });
      return;
    }
    accounts[msg.from] -= msg.amount;
    debits[msg.id] = msg.amount;
    var dest = nodeOf(msg.to);
    if (dest === ken.me) {
      accounts[msg.to] += msg.amount;
      credits[msg.id] = msg.amount;
      send(msg.driver, { type: 'done', id: msg.id, ok: true });
    } else {
      send(dest, { type: 'credit', id: msg.id, to: msg.to, amount: msg.amount, driver: msg.driver });
    }
  } else if (msg.type === 'credit') {
    if (msg.id in credits) { duplicates.push(msg.id); return; }
    accounts[msg.to] += msg.amount;
    credits[msg.id] = msg.amount;
    send(msg.driver, { type: 'done', id: msg.id, ok: true });
  }
});
