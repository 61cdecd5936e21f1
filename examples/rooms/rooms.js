// Chat rooms as actors (ken.actor / ken.ref): every node of the cluster
// defines the Room kind; each room lives on the node its key is placed on,
// created on first use. Every node also runs posters: `window` loops, each
// posting numbered messages to its own share of the rooms and awaiting each
// post, so that each sender's posts to a room are numbered 0, 1, 2, ...
// The chaos test (tests/chaos, workload rooms3) checks that every post is in
// its room exactly once, in per-sender order.
var poster = require('./poster');

ken.actor('Room', {
  state(key) { return { name: key, members: [], posts: [] }; },
  join(who) {
    if (this.members.indexOf(who) < 0) this.members.push(who);
    return this.members.length;
  },
  // Appends post `seq` of `who`; returns how many posts the room holds.
  post(who, seq, text) {
    this.posts.push([who, seq, text]);
    return this.posts.length;
  },
  count() { return this.posts.length; },
});

// `run` (a global, read by the chaos test): the posters' counters.
globalThis.run = poster.start({ rooms: 2000, window: 16 });
