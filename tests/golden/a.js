// Golden cluster node `a`: sends numbered messages to `b` when told (admin eval).
var sent = 0;
var send = function () { ken.send('b', { n: ++sent, text: 'message ' + sent }); };
