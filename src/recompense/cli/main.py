"""Entry point: import every command module so each registers its commands on ``app``."""

from recompense.cli import (  # noqa: F401 - importing a module registers its commands
    approve_cmd,
    audit_cmd,
    cases_cmd,
    import_cmd,
    ledger_cmd,
    loans_cmd,
    loans_views_cmd,  # after loans_cmd: `loans --help` lists its commands second
    notify_cmd,
    proofs_cmd,
    web_cmd,
    whatif_cmd,
)
from recompense.cli.app import app


def main() -> None:
    app()
