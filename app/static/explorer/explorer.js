// The GraphiQL explorer, from the copies the gateway serves (no CDN), with subscriptions
// over WebSocket. The headers typed in the editor are sent with every request and, for
// subscriptions, as the payload of `connection_init`.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("explorer-config").textContent);

  const httpUrl = new URL(config.graphqlPath, window.location.href);
  const wsUrl = new URL(httpUrl);
  wsUrl.protocol = httpUrl.protocol === "https:" ? "wss:" : "ws:";

  const DEFAULT_QUERY = `# Every request needs your API key: see Headers below.
# Then try, in a new tab:
#   subscription { actions { id type status } }

{
  actionTypes {
    name
    typeName
    description
  }
}
`;

  const headers = (key) => JSON.stringify({ Authorization: `Bearer ${key}` }, null, 2);

  const fetcher = GraphiQL.createFetcher({
    url: httpUrl.href,
    subscriptionUrl: wsUrl.href,
  });

  const props = {
    fetcher,
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    defaultQuery: DEFAULT_QUERY,
    defaultHeaders: headers("<api key>"),
    defaultEditorToolsVisibility: "headers",
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    inputValueDeprecation: true,
  };
  if (config.devApiKey) {
    // `actions-gateway dev`: the development key, filled in for you.
    props.headers = headers(config.devApiKey);
  }

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
