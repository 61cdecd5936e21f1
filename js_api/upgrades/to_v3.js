// Built-ins version 2 -> 3, run in an existing heap before version 3's
// random.js and console.js run again there (js_api/natives.cc, kUpgrades).
// Version 3 measures console.time with a host monotonic clock
// (natives.hostNowMs) instead of Date.now(), which is now fixed for the whole
// of a turn: the starts of timers begun under version 2 (Date.now() values)
// are carried over to the host clock, so console.timeEnd after the upgrade
// still prints the time since console.time.
//
// Runs as `function (natives, internals)`.
'use strict';
const { DateNow, MapPrototypeForEach, MapPrototypeSet } = internals.primordials;
{
  const state = internals.state.console;
  if (state !== undefined) {
    const hostNow = natives.hostNowMs();
    const wallNow = DateNow();
    MapPrototypeForEach(state.timers, (start, label) => {
      MapPrototypeSet(state.timers, label, hostNow - (wallNow - start));
    });
  }
}
