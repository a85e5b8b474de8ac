// The events resource: what platform services publish.
import { createRouter } from "../create-router";
import { registerPublishEvent } from "./publish-event";

export const eventsRouter = createRouter();
registerPublishEvent(eventsRouter);
