"""The Telegram side: routers, middlewares, rendering, and the `herald` command."""
