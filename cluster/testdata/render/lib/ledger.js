// A module bank.js requires: the renderer ships it with the scripts.
var entries = [];
exports.record = function (from, amount) { entries.push([from, amount]); };
