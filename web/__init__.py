"""The doors: the FastAPI app, its routers and websocket endpoints, authentication, the pages and the CLI."""
