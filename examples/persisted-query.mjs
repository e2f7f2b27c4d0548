// Automatic persisted queries with urql: the query's sha256 hash travels instead of the query,
// over GET so that HTTP caches can help; the query itself is sent once, when no gateway knows it.
//   cd examples && npm ci
//   GATEWAY_URL=http://localhost:8000 API_KEY=<key> node persisted-query.mjs
// It prints each request it sends, to show the protocol at work.
import { Client, fetchExchange } from "@urql/core";
import { persistedExchange } from "@urql/exchange-persisted";

const gateway = process.env.GATEWAY_URL ?? "http://localhost:8000";

async function tracingFetch(input, init) {
  const response = await fetch(input, init);
  const sentQuery = init?.method === "GET"
    ? new URL(input).searchParams.has("query")
    : "query" in JSON.parse(init.body);
  const answer = await response.clone().json().catch(() => ({}));
  const outcome = answer.errors ? answer.errors[0].message : `${response.status}`;
  console.log(`${init?.method ?? "GET"} ${sentQuery ? "query+hash" : "hash"} -> ${outcome}`);
  return response;
}

const client = new Client({
  url: `${gateway}/graphql`,
  exchanges: [persistedExchange({ preferGetForPersistedQueries: true }), fetchExchange],
  fetchOptions: { headers: { Authorization: `Bearer ${process.env.API_KEY}` } },
  fetch: tracingFetch,
  requestPolicy: "network-only",
});

const ACTION_TYPES = `query ActionTypes { actionTypes { name typeName } }`;

for (let call = 1; call <= 2; call += 1) {
  const result = await client.query(ACTION_TYPES, {}).toPromise();
  if (result.error) throw result.error;
  console.log(`call ${call}: ${result.data.actionTypes.map((t) => t.typeName).join(", ")}`);
}
