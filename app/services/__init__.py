"""The service layer: the only code that writes. GraphQL, REST and the worker call it."""
