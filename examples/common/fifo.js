// The examples' application-level FIFO check (bank, chain), one module that
// their scripts require: every message carries a per-channel sequence
// number (chanSeq) and the receiver checks that each channel's numbers
// arrive in order, without gaps or repeats. The state lives in the objects
// the program passes (its globals, which the chaos tests read), so it
// persists with the heap like everything else.

// A send(dest, msg) that numbers each channel's messages in `nextSeqTo`
// (dest -> last number sent). When ken.send refuses a message because too
// many to `dest` wait for an ack (the outbox caps: `dest` is down, slow or
// cut off), the message waits in `send.waiting[dest]` and is sent again,
// in order, by a timer every `retryMs` (default 250): as a real program
// handles back-pressure. `send.refused` counts the refusals; other errors
// (an unknown node, a broken channel) are thrown as before.
exports.sender = function (nextSeqTo, retryMs) {
  var waiting = {};
  var timer = null;
  function full(e) { return /try again later/.test(String(e && e.message)); }
  // Sends what waits for `dest`, oldest first; false if ken.send refused again.
  function flush(dest) {
    var queue = waiting[dest];
    while (queue.length > 0) {
      try {
        ken.send(dest, queue[0]);
      } catch (e) {
        if (!full(e)) throw e;
        send.refused++;
        return false;
      }
      queue.shift();
    }
    delete waiting[dest];
    return true;
  }
  function retry() {
    timer = null;
    for (var dest in waiting) flush(dest);
    schedule();
  }
  function schedule() {
    if (timer === null && Object.keys(waiting).length > 0) timer = setTimeout(retry, retryMs || 250);
  }
  function send(dest, msg) {
    nextSeqTo[dest] = (nextSeqTo[dest] || 0) + 1;
    msg.chanSeq = nextSeqTo[dest];
    // Behind messages already waiting: FIFO per channel holds.
    if (waiting[dest]) { waiting[dest].push(msg); return; }
    try {
      ken.send(dest, msg);
    } catch (e) {
      if (!full(e)) throw e;
      send.refused++;
      waiting[dest] = [msg];
      schedule();
    }
  }
  send.refused = 0;
  send.waiting = waiting;
  send.waitingCount = function () {
    var n = 0;
    for (var dest in waiting) n += waiting[dest].length;
    return n;
  };
  return send;
};

// Records in `fifoViolations` a message from `from` that is not the next
// of its channel (`lastSeqFrom`: from -> last number received).
exports.checkOrder = function (lastSeqFrom, fifoViolations, msg, from) {
  var expected = (lastSeqFrom[from] || 0) + 1;
  if (msg.chanSeq !== expected) fifoViolations.push({ from: from, got: msg.chanSeq, expected: expected });
  lastSeqFrom[from] = msg.chanSeq;
};
