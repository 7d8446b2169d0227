import { createWorker } from "../src/index.js";
import { workflows } from "./workflows.js";

/** The step worker: one SQS batch in, one step per message, partial batch failures out. */
export const handler = createWorker({ workflows });
