// Golden cluster node `b`: keeps what it receives, in order.
var got = [];
ken.receive(function (m, from) { got.push(m.n); });
