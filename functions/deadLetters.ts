import { createDeadLetterHandler } from "../src/index.js";

/** Marks workflows whose messages reached the dead-letter queue MAX_RECOVERY_ATTEMPTS_EXCEEDED. */
export const handler = createDeadLetterHandler();
