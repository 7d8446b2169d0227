// Runnable check of the DBOS peer benchmark:
//   AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true npx tsx bench/peers/dbos-check.ts

import { performance } from 'node:perf_hooks';
import { runDbosBenchmark } from './dbos.js';
import { startPostgres } from './postgres.js';

const t0 = performance.now();
const pg = await startPostgres();
if ('unavailable' in pg) {
  console.log(`DBOS peer benchmark skipped: ${pg.unavailable}`);
} else {
  const started = performance.now();
  console.log(`PostgreSQL ready at ${pg.url} in ${Math.round(started - t0)} ms`);
  try {
    const result = await runDbosBenchmark({ url: pg.url, stepCounts: [1, 10, 100], runsPerCount: 5 });
    console.log(JSON.stringify(result, null, 2));
    console.log(`benchmark took ${Math.round(performance.now() - started)} ms`);
  } finally {
    await pg.stop();
  }
  console.log(`total ${Math.round(performance.now() - t0)} ms`);
}
