// pong: records every number ping sends and echoes it back.
var received = [];        // numbers from ping, in arrival order
var receivedSet = new Set();

ken.receive(function (msg, from) {
  received.push(msg.n);
  receivedSet.add(msg.n);
  ken.send(from, { n: msg.n });
});
