// A program made of npm packages (tests/npm_test.cc): each is used once as
// the program loads, and the objects they made (a zod schema, a dayjs date,
// a parsed semver range, a lodash memoized function) are kept in globals
// and used again after kill -9.
var _ = require('lodash');
var dayjs = require('dayjs');
var utc = require('dayjs/plugin/utc');
var ms = require('ms');
var semver = require('semver');
var z = require('zod').z;
dayjs.extend(utc);

var schema = z.object({ name: z.string().min(2), age: z.number().int().nonnegative() });
var launch = dayjs.utc('2026-12-01T10:00:00Z');
var range = new semver.Range('^1.2.3 || >=3.0.0-rc.1 <4');
var slowSquare = _.memoize(function (n) { squares++; return n * n; });
var squares = 0;

function useAll() {
  return {
    lodash: [_.chunk([1, 2, 3, 4, 5], 2), _.groupBy(['one', 'two', 'three'], 'length'), slowSquare(12), slowSquare(12), squares],
    dayjs: [launch.add(36, 'hour').format('YYYY-MM-DD HH:mm'), launch.isBefore(dayjs.utc('2027-01-01'))],
    ms: [ms('2 days'), ms(90000), ms(ms('1h'), { long: true })],
    semver: [range.test('1.9.0'), range.test('2.0.0'), range.test('3.1.0'), semver.maxSatisfying(['1.2.2', '1.4.0', '3.0.0'], range)],
    zod: [schema.safeParse({ name: 'Ada', age: 36 }).success, schema.safeParse({ name: 'A', age: -1 }).error.issues.length],
  };
}
var firstUse = JSON.stringify(useAll());
if (typeof ken === 'undefined') console.log(firstUse);
