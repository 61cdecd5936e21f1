// The examples' application-level FIFO check (bank, chain), one module that
// their scripts require: every message carries a per-channel sequence
// number (chanSeq) and the receiver checks that each channel's numbers
// arrive in order, without gaps or repeats. The state lives in the objects
// the program passes (its globals, which the chaos tests read), so it
// persists with the heap like everything else.

// A send(dest, msg) that numbers each channel's messages in `nextSeqTo`
// (dest -> last number sent).
exports.sender = function (nextSeqTo) {
  return function send(dest, msg) {
    nextSeqTo[dest] = (nextSeqTo[dest] || 0) + 1;
    msg.chanSeq = nextSeqTo[dest];
    ken.send(dest, msg);
  };
};

// Records in `fifoViolations` a message from `from` that is not the next
// of its channel (`lastSeqFrom`: from -> last number received).
exports.checkOrder = function (lastSeqFrom, fifoViolations, msg, from) {
  var expected = (lastSeqFrom[from] || 0) + 1;
  if (msg.chanSeq !== expected) fifoViolations.push({ from: from, got: msg.chanSeq, expected: expected });
  lastSeqFrom[from] = msg.chanSeq;
};
