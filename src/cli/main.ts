#!/usr/bin/env node
// The `cairn` command. The SDK's Node version warning is noise in a CLI; the
// variable must be set before any SDK module loads, hence the dynamic import.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const { main } = await import("./program.js");
const code = await main(process.argv);
process.exit(code);
