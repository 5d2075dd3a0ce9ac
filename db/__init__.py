"""Persistence: Tortoise models, the state transitions, connection and migrations."""
