"""Action Registry: the Django-free core shared by the server, the CLI, the SDK and the MCP server."""

__version__ = "0.1.0"
