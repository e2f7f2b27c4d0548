"""The actions gateway: GraphQL and vendor-compatible REST over workflow actions."""
