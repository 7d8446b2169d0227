import { createReaper } from "../src/worker/createReaper.js";

/** Deletes what a workflow left when DynamoDB's TTL deleted its finished record (the table's stream, filtered on TTL deletions). */
export const handler = createReaper();
