// Operations: what uptime monitors call, without a token.
import { createRouter } from "../create-router";
import { registerGetHealth } from "./get-health";

export const healthRouter = createRouter();
registerGetHealth(healthRouter);
