// A bank: keeps balances.
var balance = 1000;
ken.receive(function (from, message) { balance += message.amount; });
