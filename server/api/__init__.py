"""The open platform's HTTP API (docs/api.md): a router of its own for JSON routes,
the app routes, and the app messages' writer operation."""
