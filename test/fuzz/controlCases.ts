import { OPERATIONS, type OperationName } from "../../src/control/operations.js";
import type { SeededRandom } from "../../src/testing/random.js";
import type { GlobalFixtures, RoundFixtures } from "./fixtures.js";
import { FUZZ_QUEUE_NAMES, FUZZ_TOPICS, FUZZ_WORKFLOW_NAMES } from "./workflows.js";
import { deepText, hostileJsonText, hostileNumberText, hostileString, validId, weighted } from "./values.js";

/** What the generators may aim at. */
export interface Aim {
  rng: SeededRandom;
  /** Prefix of ids made in this round ("r3-"). */
  prefix: string;
  round: RoundFixtures;
  global: GlobalFixtures;
  /** nextTokens that listings answered so far. */
  tokens: string[];
}

/** One control invocation: the operation's function, the Invoke payload as JSON text, the workflows it may touch. */
export interface ControlCase {
  op: OperationName;
  payload: string;
  /** Workflow ids named in the payload that hold still (their state is compared before and after). */
  targets: string[];
  /** The function's remaining time in the context (waits are capped at it). */
  remainingMs: number;
}

const STATUSES = ["ENQUEUED", "PENDING", "SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"];

/** A JSON object as text from [key, JSON text] pairs: keys may repeat or be "__proto__". */
export function objectText(fields: readonly (readonly [string, string])[]): string {
  return `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
}

export function fixtureIds(aim: Aim): string[] {
  const r = aim.round;
  return [r.running, r.done, r.failed, r.sleeping, r.cancelled, r.deadLettered];
}

/** A workflow id as JSON text: mostly the round's fixtures, else unknown, hostile or not a string. */
export function idText(aim: Aim, targets: string[]): string {
  const { rng } = aim;
  return weighted<() => string>(rng, [
    [10, () => {
      const id = rng.pick(fixtureIds(aim));
      targets.push(id);
      return JSON.stringify(id);
    }],
    [3, () => {
      const id = rng.chance(0.5) ? aim.global.bulky : rng.pick(aim.global.bigInputs);
      targets.push(id);
      return JSON.stringify(id);
    }],
    [3, () => JSON.stringify(validId(rng, `${aim.prefix}none-`))],
    [6, () => JSON.stringify(hostileString(rng))],
    [2, () => hostileNumberText(rng)],
    [1, () => rng.pick(["null", "true", "{}", "[]", `{"workflowId":"x"}`, `["${aim.round.running}"]`])],
  ])();
}

function nameText(aim: Aim): string {
  const { rng } = aim;
  return weighted<() => string>(rng, [
    [8, () => JSON.stringify(rng.pick(FUZZ_WORKFLOW_NAMES.filter((n) => n !== "fuzz.bulky")))],
    [1, () => JSON.stringify("fuzz.bulky")],
    [2, () => JSON.stringify(rng.pick(["order", "no.such.workflow", "Fuzz.Steps", "fuzz.steps ", "x".repeat(128), "x".repeat(129)]))],
    [3, () => JSON.stringify(hostileString(rng))],
    [1, () => rng.pick(["null", "42", "[]", "{}"])],
  ])();
}

function timeoutText(rng: SeededRandom): string {
  return weighted(rng, [
    [6, String(rng.int(0, 150))],
    [1, "0"],
    [3, hostileNumberText(rng)],
    [1, rng.pick(['"100"', "null", "true", "[]"])],
  ]);
}

function tokenText(aim: Aim): string {
  const { rng } = aim;
  const b64 = (json: string) => JSON.stringify(Buffer.from(json, "utf8").toString("base64url"));
  return weighted<() => string>(rng, [
    [4, () => (aim.tokens.length ? JSON.stringify(rng.pick(aim.tokens)) : JSON.stringify("eyJwayI6IldGI3gifQ"))],
    [2, () => {
      // A real token, altered: a character changed, cut short, or lengthened.
      const token = aim.tokens.length ? rng.pick(aim.tokens) : "eyJwayI6IldGI3gifQ";
      const at = rng.int(0, token.length - 1);
      return JSON.stringify(rng.pick([token.slice(0, at), `${token.slice(0, at)}A${token.slice(at + 1)}`, `${token}${token}`, `${token}==`]));
    }],
    [2, () => b64(JSON.stringify({ pk: `WF#${aim.round.running}` }))],
    [2, () => b64(JSON.stringify({ pk: `WF#${"x".repeat(3_000)}`, sk: "#WF" }))],
    [1, () => b64(JSON.stringify({ pk: 1, sk: 2 }))],
    [1, () => b64(JSON.stringify({ pk: "WF#a", sk: "#WF", gsiName: "fuzz.steps", gsiSort: "zzz", extra: { n: [1, 2] } }))],
    [1, () => b64(JSON.stringify({ pk: "WF#a", sk: { S: "#WF" } }))],
    [1, () => b64(`{"pk":"WF#a","sk":"#WF","__proto__":{"x":1}}`)],
    [1, () => b64("[]")],
    [1, () => b64("not json")],
    [3, () => JSON.stringify(hostileString(rng, { maxLength: 100_000 }))],
    [1, () => rng.pick(["null", "5", "{}"])],
  ])();
}

/** A topic, an idempotency key or an event key as JSON text: mostly a usual one, else at its limit, hostile or not a string. */
function keyText(rng: SeededRandom): string {
  return weighted<() => string>(rng, [
    [5, () => JSON.stringify(rng.pick(FUZZ_TOPICS))],
    [1, () => JSON.stringify(rng.pick(["", "k".repeat(256), "k".repeat(257)]))],
    [3, () => JSON.stringify(hostileString(rng, { maxLength: 100_000 }))],
    [1, () => rng.pick(["null", "7", "[]", "{}"])],
  ])();
}

/** A queue name as JSON text: mostly one the worker admits into, else unknown, at its limit, hostile or not a string. */
function queueNameText(rng: SeededRandom): string {
  return weighted<() => string>(rng, [
    [6, () => JSON.stringify(rng.pick(FUZZ_QUEUE_NAMES))],
    [1, () => JSON.stringify(rng.pick(["no.such.queue", "", "q".repeat(128), "q".repeat(129)]))],
    [2, () => JSON.stringify(hostileString(rng))],
    [1, () => rng.pick(["null", "7", "[]", "{}"])],
  ])();
}

type OptionalField = (p: number, key: string, value: () => string) => void;

/** The queue a started, resumed or forked workflow waits in, and its place there (each also without a queue). */
function enqueueFields(rng: SeededRandom, opt: OptionalField): void {
  opt(0.25, "queueName", () => queueNameText(rng));
  opt(0.1, "priority", () => (rng.chance(0.6) ? String(rng.int(0, 5)) : rng.chance(0.7) ? hostileNumberText(rng) : rng.pick(['"1"', "null", "[]"])));
  opt(0.1, "deduplicationId", () => keyText(rng));
  opt(0.15, "partitionKey", () => keyText(rng));
}

function versionText(rng: SeededRandom): string {
  return weighted<() => string>(rng, [
    [4, () => JSON.stringify(rng.pick(["v1", "v2", "2026-11-25"]))],
    [3, () => JSON.stringify(hostileString(rng, { maxLength: 500_000 }))],
    [1, () => rng.pick(["null", "1", "{}"])],
  ])();
}

/** An Invoke payload for one of the control functions, and the workflows it names. */
export function genControlCase(aim: Aim): ControlCase {
  const { rng } = aim;
  const op = rng.pick(OPERATIONS);
  const targets: string[] = [];
  const fields: [string, string][] = [];
  const opt: OptionalField = (p, key, value) => {
    if (rng.chance(p)) fields.push([key, value()]);
  };
  switch (op) {
    case "start":
      opt(0.92, "workflowName", () => nameText(aim));
      opt(0.6, "workflowId", () =>
        rng.chance(0.5) ? JSON.stringify(validId(rng, `${aim.prefix}s-`)) : idText(aim, targets),
      );
      opt(0.8, "input", () => hostileJsonText(rng, { maxBytes: 1_500_000 }));
      opt(0.2, "applicationVersion", () => versionText(rng));
      enqueueFields(rng, opt);
      break;
    case "status":
    case "steps":
      opt(0.95, "workflowId", () => idText(aim, targets));
      break;
    case "resume":
      opt(0.95, "workflowId", () => idText(aim, targets));
      enqueueFields(rng, opt);
      break;
    case "result":
      opt(0.95, "workflowId", () => idText(aim, targets));
      opt(0.6, "timeoutMs", () => timeoutText(rng));
      break;
    case "cancel":
      opt(0.95, "workflowId", () => idText(aim, targets));
      opt(0.4, "wait", () => rng.pick(["true", "false", '"yes"', "1", "null"]));
      opt(0.4, "timeoutMs", () => timeoutText(rng));
      break;
    case "fork":
      opt(0.95, "workflowId", () => idText(aim, targets));
      opt(0.9, "startStep", () => (rng.chance(0.6) ? String(rng.int(0, 6)) : rng.chance(0.8) ? hostileNumberText(rng) : rng.pick(['"2"', "null", "[]"])));
      opt(0.5, "newWorkflowId", () => (rng.chance(0.5) ? JSON.stringify(validId(rng, `${aim.prefix}f-`)) : idText(aim, [])));
      opt(0.2, "applicationVersion", () => versionText(rng));
      enqueueFields(rng, opt);
      break;
    case "list":
      opt(0.5, "name", () => (rng.chance(0.7) ? JSON.stringify(rng.pick(["fuzz.steps", "fuzz.echo", "fuzz.echo", "fuzz.bulky", "fuzz.sleeper"])) : nameText(aim)));
      opt(0.3, "status", () => (rng.chance(0.7) ? JSON.stringify(rng.pick(STATUSES)) : JSON.stringify(rng.pick(["pending", "DONE", hostileString(rng)]))));
      opt(0.2, "startTime", () => (rng.chance(0.5) ? String(Date.now() - rng.int(0, 3_600_000)) : hostileNumberText(rng)));
      opt(0.2, "endTime", () => (rng.chance(0.5) ? String(Date.now() + rng.int(-3_600_000, 3_600_000)) : hostileNumberText(rng)));
      opt(0.5, "limit", () => (rng.chance(0.5) ? String(rng.pick([1, 2, 5, 20, 100, 500, 1000])) : hostileNumberText(rng)));
      opt(0.35, "nextToken", () => tokenText(aim));
      opt(0.3, "sortDesc", () => rng.pick(["true", "false", '"true"', "0"]));
      opt(0.15, "parentWorkflowId", () => idText(aim, []));
      break;
    case "send":
      opt(0.95, "workflowId", () => idText(aim, targets));
      opt(0.9, "message", () => hostileJsonText(rng, { maxBytes: 1_500_000 }));
      opt(0.5, "topic", () => keyText(rng));
      opt(0.3, "idempotencyKey", () => keyText(rng));
      break;
    case "event":
      opt(0.95, "workflowId", () => idText(aim, targets));
      opt(0.9, "key", () => keyText(rng));
      // Without one it waits the default minute, cut at the invocation's deadline: keep that rare.
      opt(0.85, "timeoutMs", () => timeoutText(rng));
      break;
    case "queues":
      opt(0.6, "queueName", () => queueNameText(rng));
      break;
    case "queued":
      opt(0.7, "queueName", () => queueNameText(rng));
      opt(0.3, "status", () => JSON.stringify(rng.chance(0.7) ? rng.pick(["ENQUEUED", "PENDING"]) : rng.pick([...STATUSES, "enqueued", hostileString(rng)])));
      opt(0.4, "limit", () => (rng.chance(0.5) ? String(rng.pick([1, 2, 5, 100, 1000])) : hostileNumberText(rng)));
      opt(0.3, "nextToken", () => tokenText(aim));
      break;
  }
  // Extra and hostile fields: unknown keys are ignored, "__proto__" must not smuggle fields in.
  if (rng.chance(0.08)) fields.push(["__proto__", objectText([["workflowId", JSON.stringify(aim.round.running)], ["startStep", "1"]])]);
  if (rng.chance(0.08)) fields.push([rng.pick(["extra", "constructor", "toString", "hasOwnProperty"]), hostileJsonText(rng, { maxBytes: 10_000 })]);
  if (rng.chance(0.04) && fields.length > 0) fields.push([fields[0]![0], fields[0]![1]]);

  const payload = weighted<() => string>(rng, [
    [92, () => objectText(fields)],
    [2, () => rng.pick(["null", "[]", "42", '"status"', "true"])],
    [2, () => `[${objectText(fields)}]`],
    // An API Gateway event instead of a direct Invoke payload.
    [2, () => objectText([["httpMethod", '"POST"'], ["body", JSON.stringify(objectText(fields))]])],
    [2, () => objectText([["payload", deepText(rng.pick([10, 100_000]))], ...fields])],
  ])();
  // Waits end before the function's deadline; most invocations have plenty of time, a few very little.
  const remainingMs = weighted(rng, [
    [9, 3_000],
    [1, rng.pick([1_100, 1_600])],
  ]);
  return { op, payload, targets: [...new Set(targets)], remainingMs };
}
