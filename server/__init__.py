"""trio I/O: listener, WebSocket sessions, fan-out hub, handlers, admin socket, CLI."""

from .app import App
from .config import ServerConfig

__all__ = ["App", "ServerConfig"]
