// The driver: moves money between the banks.
var sent = 0;
function handleRequest(request, response) { response.body = String(sent); }
