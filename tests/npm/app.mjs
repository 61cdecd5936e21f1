// The same kind of program as app.js, as an ES module (tests/npm_test.cc):
// ESM-only packages (lodash-es: 640 modules, "type": "module"; nanoid's
// non-secure subpath; yocto-queue), zod through its "import" condition, and
// CommonJS packages (dayjs, ms, semver) imported by default. The objects
// they made are kept in globals and used again after kill -9.
import { chunk, groupBy, memoize } from 'lodash-es';
import { customAlphabet } from 'nanoid/non-secure';
import Queue from 'yocto-queue';
import { z } from 'zod';
import dayjs from 'dayjs';
import utc from 'dayjs/plugin/utc.js';
import ms from 'ms';
import semver from 'semver';
dayjs.extend(utc);

let squares = 0;
const slowSquare = memoize((n) => { squares++; return n * n; });
const schema = z.object({ name: z.string().min(2), tags: z.array(z.string()).max(2) });
const launch = dayjs.utc('2026-12-01T10:00:00Z');
const range = new semver.Range('>=2.1.0 <3');
const queue = new Queue();
const makeId = customAlphabet('abc', 12);
let enqueued = 0;

globalThis.useAllEsm = () => {
  queue.enqueue(++enqueued);
  const id = makeId();
  return {
    lodash: [chunk([1, 2, 3, 4, 5], 3), groupBy(['ab', 'c', 'de'], 'length'), slowSquare(7), slowSquare(7), squares],
    nanoid: [id.length, /^[abc]+$/.test(id)],
    queue: [queue.size, queue.peek()],
    zod: [schema.safeParse({ name: 'Ken', tags: ['a'] }).success, schema.safeParse({ name: 'K', tags: ['a', 'b', 'c'] }).error.issues.length],
    dayjs: launch.add(3, 'day').format('YYYY-MM-DD'),
    ms: [ms('3h'), ms(1500)],
    semver: [range.test('2.5.0'), range.test('3.0.0')],
  };
};
globalThis.firstUseEsm = JSON.stringify(globalThis.useAllEsm());
if (typeof ken === 'undefined') console.log(globalThis.firstUseEsm);
