"""The browser pages: the GraphiQL explorer and the live status board, served by the gateway."""
