import { fixtureIds, type Aim } from "./controlCases.js";
import { FUZZ_QUEUE_NAMES, FUZZ_TOPICS, FUZZ_WORKFLOW_NAMES } from "./workflows.js";
import { deepText, hostileNumberText, hostileString, validId, weighted } from "./values.js";

/** One run of the built CLI: its arguments and the workflows they name. */
export interface CliCase {
  args: string[];
  targets: string[];
}

/** The longest argument the fuzz passes (Linux refuses single arguments over 128 KB). */
const MAX_ARG = 100_000;

/** Arguments of the `cairn` CLI: commands, ids, option values, some hostile. */
export function genCliCase(aim: Aim): CliCase {
  const { rng } = aim;
  const targets: string[] = [];
  const live = new Set([aim.round.running, aim.round.sleeping]);
  let liveTarget = false;
  const id = (): string =>
    weighted<() => string>(rng, [
      [8, () => {
        const picked = rng.pick(fixtureIds(aim));
        targets.push(picked);
        if (live.has(picked)) liveTarget = true;
        return picked;
      }],
      [2, () => validId(rng, `${aim.prefix}cli-`)],
      [4, () => hostileString(rng, { maxLength: MAX_ARG })],
      [1, () => rng.pick(["-x", "--json", "--", "-1"])],
    ])();
  const key = (): string => (rng.chance(0.6) ? rng.pick(FUZZ_TOPICS) : hostileString(rng, { maxLength: rng.pick([300, MAX_ARG]) }));
  const num = (): string => (rng.chance(0.5) ? String(rng.int(0, 5)) : rng.chance(0.7) ? hostileNumberText(rng) : rng.pick(["abc", "", " ", "1_000", "0x10", "Infinity"]));
  const queueName = (): string => (rng.chance(0.7) ? rng.pick(FUZZ_QUEUE_NAMES) : hostileString(rng, { maxLength: rng.pick([300, MAX_ARG]) }));
  /** start, resume, fork: a queue and a place there (each also without --queue). */
  const queueFlags = (): void => {
    if (rng.chance(0.25)) args.push("--queue", queueName());
    if (rng.chance(0.1)) args.push("--priority", num());
    if (rng.chance(0.1)) args.push("--dedup", key());
    if (rng.chance(0.15)) args.push("--partition", key());
  };

  const command = weighted(rng, [
    [3, "status"],
    [3, "steps"],
    [3, "result"],
    [3, "cancel"],
    [3, "resume"],
    [3, "fork"],
    [3, "list"],
    [3, "start"],
    [2, "send"],
    [2, "event"],
    [2, "queue"],
    [1, "nonsense"],
  ] as const);
  const args: string[] = [command];
  switch (command) {
    case "status":
    case "steps":
      if (rng.chance(0.95)) args.push(id());
      break;
    case "resume":
      if (rng.chance(0.95)) args.push(id());
      queueFlags();
      break;
    case "result": {
      if (rng.chance(0.95)) args.push(id());
      // A live workflow never finishes during the case: wait for it only briefly (waiting is what result does).
      args.push("--timeout", liveTarget || rng.chance(0.5) ? String(rng.int(0, 300)) : rng.pick(["abc", "-1", "1.5", "", "1e3"]));
      break;
    }
    case "cancel":
      if (rng.chance(0.95)) args.push(id());
      if (rng.chance(0.4)) {
        args.push("--wait", "--timeout", liveTarget || rng.chance(0.5) ? String(rng.int(0, 300)) : rng.pick(["abc", "-1", ""]));
      }
      break;
    case "fork":
      if (rng.chance(0.95)) args.push(id());
      if (rng.chance(0.9)) args.push("--step", num());
      if (rng.chance(0.4)) args.push("--id", rng.chance(0.5) ? validId(rng, `${aim.prefix}cf-`) : id());
      if (rng.chance(0.2)) args.push("--app-version", rng.chance(0.5) ? "v2" : hostileString(rng, { maxLength: MAX_ARG }));
      queueFlags();
      break;
    case "list":
      if (rng.chance(0.4)) args.push("--name", rng.chance(0.6) ? rng.pick([...FUZZ_WORKFLOW_NAMES]) : hostileString(rng, { maxLength: MAX_ARG }));
      if (rng.chance(0.3)) args.push("--status", rng.pick(["pending", "SUCCESS", "error", "DONE", hostileString(rng, { maxLength: 1_000 })]));
      if (rng.chance(0.2)) args.push("--since", rng.pick(["2026-11-01", "0", "yesterday", "9999999999999999999", "2026-13-45", num()]));
      if (rng.chance(0.2)) args.push("--until", rng.pick(["2026-11-01", "0", "99999999999999999999999", num()]));
      if (rng.chance(0.4)) args.push("--limit", num());
      if (rng.chance(0.3)) args.push("--next-token", aim.tokens.length && rng.chance(0.5) ? rng.pick(aim.tokens) : hostileString(rng, { maxLength: MAX_ARG }));
      if (rng.chance(0.3)) args.push("--desc");
      if (rng.chance(0.15)) args.push("--parent", id());
      break;
    case "send":
      if (rng.chance(0.95)) args.push(id());
      if (rng.chance(0.9)) {
        args.push("--message", weighted<() => string>(rng, [
          [4, () => '{"approved":true}'],
          [2, () => "{not json"],
          [2, () => deepText(rng.pick([100, 129, 5_000]))],
          [2, () => JSON.stringify(hostileString(rng, { maxLength: MAX_ARG - 2 }))],
        ])());
      }
      if (rng.chance(0.5)) args.push("--topic", key());
      if (rng.chance(0.3)) args.push("--idempotency-key", key());
      break;
    case "event":
      if (rng.chance(0.95)) args.push(id());
      if (rng.chance(0.9)) args.push(key());
      // Its default wait is a minute: always a short one (or a bad one).
      args.push("--timeout", rng.chance(0.8) ? String(rng.int(0, 300)) : rng.pick(["abc", "-1", "1.5", ""]));
      break;
    case "start":
      if (rng.chance(0.95)) args.push(rng.chance(0.7) ? rng.pick(FUZZ_WORKFLOW_NAMES.filter((n) => n !== "fuzz.bulky")) : hostileString(rng, { maxLength: MAX_ARG }));
      if (rng.chance(0.6)) {
        args.push(
          "--input",
          weighted<() => string>(rng, [
            [4, () => '{"orderId":"o-1"}'],
            [2, () => "{not json"],
            [2, () => deepText(rng.pick([100, 129, 5_000]))],
            [2, () => JSON.stringify(hostileString(rng, { maxLength: MAX_ARG - 2 }))],
            [1, () => `{"__proto__":{"polluted":true}}`],
          ])(),
        );
      }
      if (rng.chance(0.5)) args.push("--id", rng.chance(0.5) ? validId(rng, `${aim.prefix}cs-`) : id());
      queueFlags();
      break;
    case "queue": {
      const sub = weighted(rng, [
        [4, "list"],
        [5, "show"],
        [1, rng.pick(["", "nonsense", "--json"])],
      ] as const);
      args.push(sub);
      if (sub === "list" && rng.chance(0.5)) args.push(queueName());
      if (sub === "show") {
        if (rng.chance(0.95)) args.push(queueName());
        if (rng.chance(0.3)) args.push("--status", rng.pick(["ENQUEUED", "pending", "SUCCESS", "DONE", hostileString(rng, { maxLength: 1_000 })]));
        if (rng.chance(0.3)) args.push("--limit", num());
        if (rng.chance(0.2)) args.push("--next-token", aim.tokens.length && rng.chance(0.5) ? rng.pick(aim.tokens) : hostileString(rng, { maxLength: MAX_ARG }));
      }
      break;
    }
    case "nonsense":
      args.push(hostileString(rng, { maxLength: 1_000 }));
      break;
  }
  if (rng.chance(0.5)) args.push("--json");
  // Targets other than the embedded stack: Lambda mode (its endpoint refuses connections), bad files.
  const extra = weighted<string[]>(rng, [
    [20, []],
    [1, ["--lambda"]],
    [1, ["--functions", rng.pick(["{not json", '{"status":""}', "/nonexistent/outputs.json", "[]"])]],
    [1, ["--function-prefix", "fuzz-"]],
    [1, ["--bogus-option"]],
    [1, ["--region", "not a region"]],
  ]);
  args.push(...extra);
  return { args, targets: [...new Set(targets)] };
}
