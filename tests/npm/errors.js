// A package that needs Node.js built-ins (dotenv reads files with fs):
// requiring it fails with an error naming the package and what is missing.
var dotenvError = null;
try {
  require('dotenv');
} catch (e) {
  dotenvError = e.code + ': ' + e.message;
}
