"""Herald: broadcast to Telegram channels from a Telegram chat, and stop each run by itself."""

__version__ = "0.1.0"
