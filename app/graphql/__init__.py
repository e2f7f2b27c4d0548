"""The GraphQL API: a thin layer over `app.services`."""
