"""The web service: the Rewards Hub, the operations console, the loan fund's console, the API.

Thin, like the CLI: a route parses the request, calls one library function, and renders
(a Jinja2 page or JSON). It sits on top of the domain packages and nothing below imports
it (``docs/architecture.md``; ``tests/test_architecture.py`` enforces it).

- :mod:`.app`: ``create_app`` — settings, state, the routers of :mod:`.routes`;
- :mod:`.routes`: one router per resource (sessions, eligibility, vouchers, proofs, ops,
  what-if, self-check, approvals, audit, loans, cases);
- :mod:`.service`: the process's state (ledger engine, programmes, runs in memory,
  through :mod:`.runindex` and :mod:`.story`; a full-payment programme's story, each
  collateral liquidation event priced, through :mod:`.story_full` and :mod:`.i18n_full`);
- :mod:`.auth`, :mod:`.sessions`, :mod:`.csrf`: who is calling, and may they;
- :mod:`.pages`, :mod:`.i18n`, :mod:`.formats`, :mod:`.charts`: rendering, in the
  caller's language;
- :mod:`.problems`: every error answer, from one place;
- :mod:`.settings`, :mod:`.telemetry`, :mod:`.server`: configuration, metrics, serving.
"""
