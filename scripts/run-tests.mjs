// Runs every *.test.ts under the given folders (default: test/) with node's test
// runner and tsx, since Node 20's runner does not find TypeScript files itself.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith("--"));
const roots = args.filter((a) => !a.startsWith("--"));

function find(p) {
  if (statSync(p).isFile()) return p.endsWith(".test.ts") ? [p] : [];
  return readdirSync(p).sort().flatMap((entry) => find(path.join(p, entry)));
}

const files = (roots.length ? roots : ["test"]).flatMap(find);
if (files.length === 0) {
  console.error(`no test files under ${roots.join(", ") || "test"}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=180000", ...flags, ...files],
  { stdio: "inherit", env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" } },
);
process.exit(result.status ?? 1);
