"""The console's pages, one module per audience; each exposes ``add_routes(app)``."""
