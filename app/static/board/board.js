// The status board: the company's latest actions, updated live from `subscription actions`,
// and a form built from the catalogue (`actionTypes`) to create one. Plain JavaScript, no
// build step. It is a client like any other: an API key in `Authorization`, over HTTP for
// queries and mutations and in `connection_init` over WebSocket (graphql-transport-ws).
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("board-config").textContent);
  const KEY_STORAGE = "actions-gateway.api-key";
  const MAX_ROWS = 50;
  const FIELDS = "id type typeName status attempts error createdAt executedAt version";
  // Strawberry closes a WebSocket whose connection_init it refused with this code.
  const REFUSED = 4403;

  const httpUrl = new URL(config.graphqlPath, window.location.href);
  const wsUrl = new URL(httpUrl);
  wsUrl.protocol = httpUrl.protocol === "https:" ? "wss:" : "ws:";

  const $ = (id) => document.getElementById(id);
  const state = {
    key: null,
    actions: new Map(), // id -> the newest version seen
    types: new Map(), // name -> action type from the catalogue
    socket: null,
    generation: 0, // bumped on each (re)connect, so stale sockets stay quiet
    retries: 0,
  };

  class AuthError extends Error {}

  async function graphql(query, variables) {
    const response = await fetch(httpUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${state.key}` },
      body: JSON.stringify({ query, variables: variables || {} }),
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      // Not JSON: reported below by status.
    }
    const message = body && body.errors && body.errors.length ? body.errors[0].message : null;
    if (response.status === 401) throw new AuthError(message || "the API key was refused");
    if (!response.ok || !body) throw new Error(message || `HTTP ${response.status}`);
    if (body.errors && body.errors.length) throw new Error(body.errors.map((e) => e.message).join("; "));
    return body.data;
  }

  // ---- the table --------------------------------------------------------------------------

  function upsert(action) {
    const known = state.actions.get(action.id);
    if (known && known.version >= action.version) return; // stale or repeated
    state.actions.set(action.id, action);
    render();
  }

  function time(value) {
    return value ? new Date(value).toLocaleTimeString() : "";
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (className) td.className = className;
    return td;
  }

  function render() {
    const rows = [...state.actions.values()].sort((a, b) => Number(b.id) - Number(a.id));
    for (const dropped of rows.splice(MAX_ROWS)) state.actions.delete(dropped.id);
    const tbody = document.querySelector("#actions tbody");
    tbody.replaceChildren(
      ...rows.map((action) => {
        const tr = document.createElement("tr");
        tr.dataset.id = action.id;
        tr.dataset.status = action.status;
        const status = cell(action.status, `status status-${action.status}`);
        tr.append(
          cell(action.id),
          cell(action.type),
          status,
          cell(action.attempts),
          cell(action.error, "error-cell"),
          cell(time(action.createdAt)),
          cell(time(action.executedAt)),
        );
        return tr;
      }),
    );
    $("empty").hidden = rows.length > 0;
  }

  async function loadActions() {
    const data = await graphql(`query { actions(first: ${MAX_ROWS}) { edges { node { ${FIELDS} } } } }`);
    for (const edge of data.actions.edges) upsert(edge.node);
  }

  // ---- live updates -----------------------------------------------------------------------

  function setLive(value) {
    const live = $("live");
    live.dataset.state = value;
    live.textContent = value;
  }

  function subscribe() {
    const generation = ++state.generation;
    if (state.socket) state.socket.close(1000);
    const socket = new WebSocket(wsUrl, "graphql-transport-ws");
    state.socket = socket;
    const send = (message) => socket.send(JSON.stringify(message));
    socket.onopen = () => send({ type: "connection_init", payload: { Authorization: `Bearer ${state.key}` } });
    socket.onmessage = (event) => {
      if (generation !== state.generation) return;
      const message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        state.retries = 0;
        send({ id: "actions", type: "subscribe", payload: { query: `subscription { actions { ${FIELDS} } }` } });
        setLive("live");
        // Listening first, then reading: nothing changed in between goes unseen.
        loadActions().catch(showKeyError);
      } else if (message.type === "next" && message.payload.data) {
        upsert(message.payload.data.actions);
      } else if (message.type === "ping") {
        send({ type: "pong" });
      } else if (message.type === "error") {
        showKeyError(new Error(message.payload.map((e) => e.message).join("; ")));
      }
    };
    socket.onclose = (event) => {
      if (generation !== state.generation) return; // replaced by a newer connection
      if (event.code === REFUSED) {
        setLive("offline");
        showKeyError(new AuthError("the API key was refused"));
        return;
      }
      // Going away (1001: a gateway stopping) or a lost network: come back, with backoff.
      setLive("reconnecting");
      const delay = Math.min(30000, 500 * 2 ** state.retries++);
      window.setTimeout(() => {
        if (generation === state.generation) subscribe();
      }, delay);
    };
  }

  // ---- the catalogue and the form ---------------------------------------------------------

  const DATA_FIELD = "name type description allowedValues";

  async function loadCatalogue() {
    const data = await graphql(
      `query { actionTypes { name typeName description createAction {
         requiredData { ${DATA_FIELD} } optionalData { ${DATA_FIELD} } } } }`,
    );
    const select = $("action-type");
    state.types = new Map(data.actionTypes.map((t) => [t.name, t]));
    select.replaceChildren(
      ...data.actionTypes.map((t) => {
        const option = document.createElement("option");
        option.value = t.name;
        option.textContent = `${t.name} (${t.typeName})`;
        return option;
      }),
    );
    select.disabled = false;
    $("create-button").disabled = false;
    renderFields();
  }

  function input(field, required) {
    let control;
    if (field.allowedValues) {
      control = document.createElement("select");
      if (!required) control.append(new Option("", ""));
      for (const value of field.allowedValues) control.append(new Option(value, value));
    } else {
      control = document.createElement("input");
      control.type = field.type === "integer" ? "number" : "text";
      if (field.type === "integer") control.step = "1";
      else control.maxLength = 1000;
    }
    control.id = `field-${field.name}`;
    control.name = field.name;
    control.dataset.kind = field.type;
    control.required = required;
    return control;
  }

  function renderFields() {
    const type = state.types.get($("action-type").value);
    $("type-description").textContent = type ? type.description : "";
    const container = $("data-fields");
    container.replaceChildren();
    if (!type) return;
    const fields = [
      ...type.createAction.requiredData.map((f) => [f, true]),
      ...type.createAction.optionalData.map((f) => [f, false]),
    ];
    for (const [field, required] of fields) {
      const label = document.createElement("label");
      label.htmlFor = `field-${field.name}`;
      label.textContent = `${field.name} `;
      if (!required) {
        const optional = document.createElement("span");
        optional.className = "optional";
        optional.textContent = "(optional)";
        label.append(optional);
      }
      container.append(label, input(field, required));
    }
  }

  function formData() {
    const data = {};
    for (const control of $("data-fields").querySelectorAll("input, select")) {
      const raw = control.value;
      if (raw === "" && !control.required) continue;
      // The gateway checks types and says what is wrong; send what was typed.
      data[control.name] = control.dataset.kind === "integer" && /^-?\d+$/.test(raw) ? Number(raw) : raw;
    }
    return data;
  }

  function showCreateErrors(errors) {
    const list = $("create-errors");
    list.replaceChildren(
      ...errors.map((e) => {
        const li = document.createElement("li");
        li.textContent = e.message; // the gateway names the key in the message
        return li;
      }),
    );
    for (const control of $("data-fields").querySelectorAll("input, select")) {
      const invalid = errors.some((e) => e.field === `data.${control.name}`);
      control.setAttribute("aria-invalid", String(invalid));
    }
  }

  async function createAction(event) {
    event.preventDefault();
    $("create-result").textContent = "";
    showCreateErrors([]);
    try {
      const data = await graphql(
        `mutation($type: String!, $data: JSON!) { createAction(input: {type: $type, data: $data}) {
           action { ${FIELDS} } errors { field message code } } }`,
        { type: $("action-type").value, data: formData() },
      );
      const payload = data.createAction;
      if (payload.errors.length) {
        showCreateErrors(payload.errors);
        return;
      }
      upsert(payload.action);
      $("create-result").textContent = `Action ${payload.action.id} created.`;
    } catch (error) {
      showCreateErrors([{ field: null, message: error.message }]);
    }
  }

  // ---- the key ----------------------------------------------------------------------------

  function showKeyError(error) {
    const p = $("key-error");
    p.textContent = error ? error.message : "";
    p.hidden = !error;
    if (error instanceof AuthError) setLive("offline");
  }

  async function connect(key) {
    state.key = key;
    state.actions.clear();
    render();
    showKeyError(null);
    try {
      await loadCatalogue();
    } catch (error) {
      showKeyError(error);
      return;
    }
    window.localStorage.setItem(KEY_STORAGE, key);
    subscribe();
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) connect(key);
  });
  $("action-type").addEventListener("change", renderFields);
  $("create-form").addEventListener("submit", createAction);

  // A key used here before, or under `actions-gateway dev` the development key.
  const initial = window.localStorage.getItem(KEY_STORAGE) || config.devApiKey;
  if (initial) {
    $("api-key").value = initial;
    connect(initial);
  }
  render();
})();
