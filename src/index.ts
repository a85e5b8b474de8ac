// The Worker's entry: one handler per trigger, each delegating to its module.
import { createApp } from "./app";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
