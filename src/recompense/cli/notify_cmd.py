"""Command for the notification worker (notify)."""
