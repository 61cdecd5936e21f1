// ping: sends the numbers 1..total to pong, keeping `window` in flight, and
// records every number pong sends back. Run with pong.js (cluster.yaml).
var total = 10000;
var window = 100;
var sent = 0;
var received = [];        // numbers pong echoed, in arrival order
var receivedSet = new Set();

function sendNext() {
  sent++;
  ken.send('pong', { n: sent });
}

ken.receive(function (msg, from) {
  received.push(msg.n);
  receivedSet.add(msg.n);
  if (sent < total) sendNext();
});

for (var i = 0; i < window && sent < total; i++) sendNext();
