// Watch an action until it finishes, with the graphql-ws client.
//   cd examples && npm ci
//   GATEWAY_URL=http://localhost:8000 API_KEY=<key> node watch-action.mjs <action id>
// In a browser, leave out `ws` and `webSocketImpl`: browsers have WebSocket built in.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const actionId = process.argv[2];
const gateway = process.env.GATEWAY_URL ?? "http://localhost:8000";

const client = createClient({
  url: gateway.replace(/^http/, "ws") + "/graphql",
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${process.env.API_KEY}` },
  // graphql-ws retries a refused connection (4403) in case access was granted since; a
  // wrong API key stays wrong.
  shouldRetry: (closed) => closed?.code !== 4403,
});

const WATCH = `subscription Watch($id: ID!) {
  action(id: $id) { typeName status executedAt error }
}`;

try {
  // The current state at once, then every change; the stream ends when the action has finished.
  for await (const result of client.iterate({ query: WATCH, variables: { id: actionId } })) {
    if (result.errors) throw new Error(result.errors.map((e) => e.message).join("; "));
    const { typeName, status, executedAt, error } = result.data.action;
    const detail = executedAt ? ` at ${executedAt}` : error ? ` (${error})` : "";
    console.log(`${typeName} ${actionId}: ${status}${detail}`);
  }
} catch (failure) {
  // A refused connection arrives as the socket's close event, e.g. 4403 for a wrong API key.
  const reason = failure instanceof Error ? failure.message : `${failure.code} ${failure.reason}`;
  console.error(`could not watch action ${actionId}: ${reason}`);
  process.exitCode = 1;
} finally {
  await client.dispose();
}
