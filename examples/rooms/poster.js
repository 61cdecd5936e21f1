// Posters for the rooms example: `window` loops; loop j posts to the rooms
// whose number is j modulo `window`, one post at a time (awaiting each), so
// that this node's posts to each room are numbered 0, 1, 2, ... in order.
// A post refused by back-pressure ("try again later") is retried 250 ms
// later; calls never time out (a partition only delays them).
//
// run.issued / run.done: posts started / completed; run.posted[room]: posts
// completed per room; run.refused: refused and retried; run.limit: set it to
// run.issued to stop.
exports.start = function (options) {
  var run = { issued: 0, done: 0, posted: {}, refused: 0, limit: Infinity, rooms: options.rooms };
  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }
  async function postOnce(room, seq) {
    var ref = ken.ref('Room', room).withTimeout(Infinity);
    for (;;) {
      try {
        await ref.call('post', ken.me, seq, 'hello from ' + ken.me);
        return;
      } catch (e) {
        if (String(e && e.message).indexOf('try again later') < 0) throw e;
        run.refused++;
        await sleep(250);
      }
    }
  }
  async function loop(j) {
    for (var k = 0; ; k++) {
      var room = 'room' + ((j + k * options.window) % options.rooms);
      while (run.issued >= run.limit) await sleep(500);
      run.issued++;
      var seq = run.posted[room] || 0;
      await postOnce(room, seq);
      run.posted[room] = seq + 1;
      run.done++;
    }
  }
  for (var j = 0; j < options.window; j++) loop(j);
  return run;
};
