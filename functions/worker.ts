import { createWorker } from "../src/index.js";
import { queues, workflows } from "./workflows.js";

/** The step worker: one SQS batch in, one step per message, partial batch failures out; it admits the queues' workflows too. */
export const handler = createWorker({ workflows, queues });
