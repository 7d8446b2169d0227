import { createControlHandler } from "../../src/index.js";

export const handler = createControlHandler("queues");
