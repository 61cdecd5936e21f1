// A bank: keeps balances.
var ledger = require('./lib/ledger');
var balance = 1000;
ken.receive(function (from, message) { balance += message.amount; ledger.record(from, message.amount); });
