import { parseArgs } from "node:util";
import { isClean, reportLine, runChaos } from "./chaos.js";

const USAGE = `Usage: npm run chaos -- [--seed N] [--workflows N] [--action-ms MS] [--fault-rate P] [--quiescence-ms MS] [--no-queues | --queue-heavy [--heavy-concurrency N]]

Runs N top-level chaos workflows (with their children, message partners, client
messages and forks on top) on the embedded stack under random crashes and
transient faults while cancelling, resuming and forking them at random, then
checks the invariants (test/chaos/invariants.ts). Some workflows start on
workflow queues (a pool, a rate limit, priorities, partitions; some with
deduplication ids), and steering resumes and forks workflows into queues; the
queues are sampled throughout (never more than their concurrency admitted and
running). Exit code 0: clean; 1: an invariant was violated (rerun with the same
seed); 2: the run itself failed.

  --seed N           the seed (default: the current time mod 100000)
  --workflows N      top-level workflows started (default 50)
  --action-ms MS     how long workflows are started, steered and faulted (default max(15000, 150 per workflow))
  --fault-rate P     chance per opportunity of each crash point and transient fault (default 0.03)
  --quiescence-ms MS how long to wait for quiescence once faults stop (default 90000)
  --no-queues        no workflow queues (the run as before queues existed)
  --queue-heavy      instead: N workflows (default 200) of simple plans started at once on one
                     queue of concurrency 3, under the faults until all have ended, no steering
  --heavy-concurrency N  that queue's concurrency (default 3)
  --help             this text

Environment: CAIRN_CHAOS_DEBUG=1 prints each look of the quiescence phase; CAIRN_LOG_LEVEL=INFO the runtime's logs.`;

// npm run chaos -- --seed 7 --workflows 300 [--action-ms 60000] [--fault-rate 0.02]
const { values } = parseArgs({
  options: {
    seed: { type: "string", default: String(Date.now() % 100_000) },
    workflows: { type: "string", default: "50" },
    "action-ms": { type: "string" },
    "fault-rate": { type: "string" },
    "quiescence-ms": { type: "string" },
    "no-queues": { type: "boolean", default: false },
    "queue-heavy": { type: "boolean", default: false },
    "heavy-concurrency": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const seed = Number(values.seed);
const heavy = values["queue-heavy"] === true;
const workflows = heavy && !process.argv.some((a) => a === "--workflows" || a.startsWith("--workflows=")) ? 200 : Number(values.workflows);
const actionMs = values["action-ms"] !== undefined ? Number(values["action-ms"]) : Math.max(15_000, workflows * 150);
console.log(
  heavy
    ? `chaos (queue-heavy): seed ${seed}, ${workflows} workflows on one queue of concurrency ${values["heavy-concurrency"] ?? 3}, faults until all have ended`
    : `chaos: seed ${seed}, ${workflows} workflows, ${actionMs} ms of faults and steering${values["no-queues"] ? ", no queues" : ""}`,
);
try {
  const report = await runChaos({
    seed,
    workflows,
    actionMs,
    ...(values["fault-rate"] !== undefined ? { faultRate: Number(values["fault-rate"]) } : {}),
    ...(values["quiescence-ms"] !== undefined ? { quiescenceMs: Number(values["quiescence-ms"]) } : {}),
    ...(values["no-queues"] ? { queues: false } : {}),
    ...(heavy ? { queueHeavy: true } : {}),
    ...(values["heavy-concurrency"] !== undefined ? { heavyConcurrency: Number(values["heavy-concurrency"]) } : {}),
  });
  const { details, ...counts } = report;
  console.log(`workflows ${counts.workflows} + children ${counts.children} + forks ${counts.forks}; cancels ${counts.cancels} (${counts.idleCancels} waited idle, ${counts.cascades} cascaded), resumes ${counts.resumes}`);
  console.log(`step bodies started ${counts.bodyStarts}, steps recorded ${counts.stepsRecorded}`);
  console.log(
    `messages delivered ${counts.messagesSent}, received ${counts.messagesReceived}, recv timeouts ${counts.recvTimeouts}; client keys ${counts.clientSends}; fillers ${counts.fillers}; events checked ${counts.eventsChecked}`,
  );
  console.log(
    `queues: ${counts.queued} started on queues, ${counts.queueEnters} entries into lines (${counts.queueResumes} resumes and ${counts.queueForks} forks into queues, ${counts.bypassResumes} resumes past a queue), ` +
      `${counts.admissions} admissions in ${counts.admissionPasses} passes (${counts.contestedAdmissions} with others left waiting); deduplication: ${counts.dedupProbes} duplicate starts (${counts.dedupRefused} refused, ${counts.dedupStarted} started), ${counts.dedupReleased} ids taken again at the end`,
  );
  console.log(
    `queue samples ${counts.queueSamples}; most seen per place (holding a slot / PENDING among them / PENDING past the queue / waiting, of the first 50 read): ` +
      Object.entries(counts.queueMost)
        .map(([place, m]) => `${place} ${m.holding}/${m.pending}/${m.bypassing}/${m.waiting}`)
        .join(", "),
  );
  console.log(`faults injected ${counts.faultsInjected}: ${JSON.stringify(counts.faults)}`);
  console.log(`final statuses: ${JSON.stringify(counts.statuses)}`);
  console.log(`took ${counts.durationMs} ms`);
  for (const d of details) console.log(`${d.startsWith("(") ? "" : "violation: "}${d}`);
  if (!isClean(report)) console.log(`CHAOS FAILED with seed ${seed} (rerun: npm run chaos -- --seed ${seed} --workflows ${workflows}${heavy ? " --queue-heavy" : ""})`);
  console.log(reportLine(report));
  process.exit(isClean(report) ? 0 : 1);
} catch (err) {
  console.log(`CHAOS ERROR with seed ${seed}: ${String((err as Error)?.stack ?? err)}`);
  process.exit(2);
}
