import type { WorkflowStore } from "../../src/store/WorkflowStore.js";
import type { SeededRandom } from "../../src/testing/random.js";
import { fixtureIds, objectText, type Aim } from "./controlCases.js";
import { hostileJsonText, hostileNumberText, hostileString, seededUuid, validId, weighted } from "./values.js";

/** One record of a batch: what Lambda's event source would hand the worker. */
export interface RecordSpec {
  messageId: string;
  body: string;
  receiveCount?: string;
}

/**
 * A worker case: batches handed to the worker one after the other (most cases
 * are one batch of one record), and the workflows they may touch.
 */
export interface WorkerCase {
  family: string;
  batches: RecordSpec[][];
  targets: string[];
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A Cairn message body from [key, JSON text] pairs (kind and v first, unless replaced). */
function body(fields: readonly (readonly [string, string])[], header: readonly (readonly [string, string])[] = [["kind", '"cairn.step"'], ["v", "1"]]): string {
  return objectText([...header, ...fields]);
}

interface Seen {
  workflowId: string;
  lastRecorded: number;
  generation: number;
  running?: { step: number; name: string; token: string };
}

async function look(store: WorkflowStore, workflowId: string): Promise<Seen> {
  const state = await store.loadState(workflowId);
  if (!state) return { workflowId, lastRecorded: 0, generation: 0 };
  const lastRecorded = state.steps.reduce((max, s) => Math.max(max, s.functionId), 0);
  const claim = state.workflow.running;
  return {
    workflowId,
    lastRecorded,
    generation: state.workflow.generation,
    ...(claim ? { running: { step: claim.step, name: claim.name, token: claim.token } } : {}),
  };
}

/** Bodies that are not valid messages at all, or valid ones with values no worker may act on. */
function malformedBody(rng: SeededRandom, aim: Aim, targets: string[]): string {
  const id = rng.pick(fixtureIds(aim));
  const good: [string, string][] = [
    ["workflowId", JSON.stringify(id)],
    ["step", "2"],
    ["generation", "0"],
  ];
  const replace = (key: string, value: string): [string, string][] => good.map(([k, v]) => [k, k === key ? value : v] as [string, string]);
  targets.push(id);
  return weighted<() => string>(rng, [
    [3, () => hostileString(rng, { maxLength: 256_000 })],
    [2, () => hostileJsonText(rng, { maxBytes: 256_000 })],
    [1, () => ""],
    [1, () => body(good, [["kind", '"cairn.other"'], ["v", "1"]])],
    [1, () => body(good, [["kind", '"cairn.step"'], ["v", rng.pick(["2", "0", '"1"', "null", "1.0000000000000002"])]])],
    [1, () => body(good, [])],
    [3, () => body(replace("step", rng.chance(0.7) ? rng.pick(["9007199254740992", "9007199254740993", "1e300", "0", "-1", "1.5"]) : hostileNumberText(rng)))],
    [2, () => body(replace("step", rng.pick(['"2"', "null", "[]", "{}", "true"])))],
    [3, () => body(replace("generation", rng.chance(0.7) ? rng.pick(["9007199254740992", "1e300", "-1", "0.5"]) : hostileNumberText(rng)))],
    [3, () => body(replace("workflowId", JSON.stringify(rng.chance(0.6) ? "w".repeat(rng.pick([201, 3_000, 100_000])) : hostileString(rng, { maxLength: 200_000 }))))],
    [1, () => body(replace("workflowId", rng.pick(["null", "42", "[]", `["${id}"]`])))],
    [3, () => body([...good, ["op", "null"]])],
    [2, () => body([...good, ["op", rng.pick(["[]", '"step"', "{}", '{"kind":"step"}', '{"kind":"child","name":"b"}', '{"kind":"step","name":""}', '{"kind":"step","name":7}'])]])],
    [2, () => body([...good, ["op", objectText([["kind", '"step"'], ["name", JSON.stringify("n".repeat(rng.pick([257, 100_000])))]])]])],
    [2, () => body([...good, ["notBefore", rng.pick(["1e300", "9007199254740993", "-1", "1.5", '"soon"', "null", "8640000000000001"])]])],
    [2, () => body([...good, ["supersedes", rng.pick(['""', "7", "null", "[]", JSON.stringify("s".repeat(129)), JSON.stringify("s".repeat(100_000))])]])],
    [1, () => body([...good, ["__proto__", objectText([["step", "3"], ["notBefore", "1"]])]])],
  ])();
}

/**
 * A well-formed message for one of the round's workflows, as a duplicate, a
 * stale or a forged delivery would look: any step near the workflow's own,
 * any generation near its own, any op, notBefore and supersedes.
 */
function plausibleBody(rng: SeededRandom, seen: Seen): string {
  const step = weighted(rng, [
    [3, seen.lastRecorded],
    [4, seen.lastRecorded + 1],
    [4, seen.lastRecorded + 2],
    [2, seen.lastRecorded + 3],
    [1, Math.max(1, seen.lastRecorded - 1)],
    [1, seen.lastRecorded + 1_000],
    [1, MAX_SAFE],
  ]);
  const generation = weighted(rng, [
    [8, seen.generation],
    [2, Math.max(0, seen.generation - 1)],
    [2, seen.generation + 1],
    [1, MAX_SAFE],
  ]);
  const fields: [string, string][] = [
    ["workflowId", JSON.stringify(seen.workflowId)],
    ["step", String(step)],
    ["generation", String(generation)],
  ];
  const op = weighted<string | undefined>(rng, [
    [4, undefined],
    [3, JSON.stringify({ kind: "step", name: seen.running?.name ?? "b" })],
    [3, JSON.stringify({ kind: "step", name: "x" })],
    [1, JSON.stringify({ kind: "sleep", name: "sleep" })],
    [1, JSON.stringify({ kind: "step", name: "n".repeat(256) })],
  ]);
  if (op) fields.push(["op", op]);
  const notBefore = weighted<string | undefined>(rng, [
    [8, undefined],
    [1, String(Date.now() - 60_000)],
    [1, String(Date.now() + 30_000)],
    [2, String(rng.pick([Date.now() + 86_400_000 * 365, 8_640_000_000_000_000, MAX_SAFE]))],
  ]);
  if (notBefore) fields.push(["notBefore", notBefore]);
  const supersedes = weighted<string | undefined>(rng, [
    [8, undefined],
    [2, seen.running ? JSON.stringify(seen.running.token) : undefined],
    [1, JSON.stringify(seededUuid(rng))],
  ]);
  if (supersedes) fields.push(["supersedes", supersedes]);
  if (rng.chance(0.1)) fields.push(["traceId", JSON.stringify(seededUuid(rng))]);
  return body(fields);
}

function receiveCount(rng: SeededRandom): string | undefined {
  return weighted<string | undefined>(rng, [
    [10, undefined],
    [1, "5"],
    [1, rng.pick(["0", "abc", "1e9", "-1"])],
  ]);
}

/** The worker case the issue describes, and its relatives. */
export async function genWorkerCase(aim: Aim, store: WorkflowStore): Promise<WorkerCase> {
  const { rng } = aim;
  const targets: string[] = [];
  const fresh = (bodyText: string): RecordSpec => {
    const count = receiveCount(rng);
    return { messageId: seededUuid(rng), body: bodyText, ...(count ? { receiveCount: count } : {}) };
  };
  const family = weighted(rng, [
    [18, "malformed"],
    [30, "plausible"],
    [7, "liveDuplicate"],
    [7, "supersedesLive"],
    [9, "takeover"],
    [6, "farFuture"],
    [6, "missing"],
    [7, "batch"],
  ] as const);

  switch (family) {
    case "malformed":
      return { family, batches: [[fresh(malformedBody(rng, aim, targets))]], targets };

    case "plausible": {
      const id = rng.pick(fixtureIds(aim));
      targets.push(id);
      return { family, batches: [[fresh(plausibleBody(rng, await look(store, id)))]], targets };
    }

    case "liveDuplicate":
    case "supersedesLive": {
      // Another delivery of the message that holds the running step's claim (SQS may deliver one
      // message twice at once), or a new message that says it supersedes that live claim.
      const seen = await look(store, aim.round.running);
      targets.push(seen.workflowId);
      const claim = seen.running ?? { step: 2, name: "b", token: seededUuid(rng) };
      const fields: [string, string][] = [
        ["workflowId", JSON.stringify(seen.workflowId)],
        ["step", String(claim.step)],
        ["generation", String(seen.generation)],
      ];
      if (rng.chance(0.6)) fields.push(["op", JSON.stringify({ kind: "step", name: claim.name })]);
      if (family === "supersedesLive") fields.push(["supersedes", JSON.stringify(claim.token)]);
      const record = family === "liveDuplicate" ? { messageId: claim.token, body: body(fields) } : fresh(body(fields));
      return { family, batches: [[record]], targets };
    }

    case "takeover": {
      // The case: while step 2 runs, a message for (last recorded + 2) that names a step, then a
      // redelivered message of the last recorded step (which makes sure step 2's message exists).
      const seen = await look(store, aim.round.running);
      targets.push(seen.workflowId);
      const ahead = body([
        ["workflowId", JSON.stringify(seen.workflowId)],
        ["step", String(seen.lastRecorded + rng.pick([2, 2, 3]))],
        ["generation", String(seen.generation)],
        ["op", JSON.stringify({ kind: "step", name: rng.pick(["x", "c", "b"]) })],
      ]);
      const redelivered = body([
        ["workflowId", JSON.stringify(seen.workflowId)],
        ["step", String(Math.max(1, seen.lastRecorded))],
        ["generation", String(seen.generation)],
        ...(rng.chance(0.5) ? [["op", JSON.stringify({ kind: "step", name: "a" })] as [string, string]] : []),
      ]);
      const together = rng.chance(0.25);
      return { family, batches: together ? [[fresh(ahead), fresh(redelivered)]] : [[fresh(ahead)], [fresh(redelivered)]], targets };
    }

    case "farFuture": {
      // Far-future notBefore: for a workflow that does not exist it must be dropped, not re-sent every 15 minutes.
      const exists = rng.chance(0.5);
      const id = exists ? rng.pick(fixtureIds(aim)) : validId(rng, `${aim.prefix}ghost-`);
      if (exists) targets.push(id);
      const seen = exists ? await look(store, id) : { workflowId: id, lastRecorded: 0, generation: 0 };
      return {
        family,
        batches: [
          [
            fresh(
              body([
                ["workflowId", JSON.stringify(id)],
                ["step", String(seen.lastRecorded + rng.pick([1, 1, 2]))],
                ["generation", String(seen.generation)],
                ["notBefore", String(rng.pick([Date.now() + 86_400_000 * 30, Date.now() + 86_400_000 * 36_500, MAX_SAFE]))],
              ]),
            ),
          ],
        ],
        targets,
      };
    }

    case "missing": {
      const id = validId(rng, `${aim.prefix}ghost-`);
      const fields: [string, string][] = [
        ["workflowId", JSON.stringify(id)],
        ["step", String(rng.int(1, 4))],
        ["generation", String(rng.int(0, 2))],
      ];
      if (rng.chance(0.5)) fields.push(["op", JSON.stringify({ kind: "step", name: "a" })]);
      return { family, batches: [[fresh(body(fields))]], targets };
    }

    case "batch": {
      // Several records at once, some malformed, some plausible, maybe one message twice.
      const records: RecordSpec[] = [];
      for (let i = rng.int(2, 6); i > 0; i--) {
        if (rng.chance(0.4)) records.push(fresh(malformedBody(rng, aim, targets)));
        else {
          const id = rng.pick(fixtureIds(aim));
          targets.push(id);
          records.push(fresh(plausibleBody(rng, await look(store, id))));
        }
      }
      if (rng.chance(0.3)) records.push({ ...records[0]! });
      return { family, batches: [records], targets: [...new Set(targets)] };
    }
  }
}
