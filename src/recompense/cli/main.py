"""Entry point: import every command module so each registers its commands on ``app``."""

from recompense.cli import ledger_cmd, notify_cmd, proofs_cmd  # noqa: F401 - registers commands
from recompense.cli.app import app


def main() -> None:
    app()
