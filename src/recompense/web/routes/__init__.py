"""One router per resource; :data:`recompense.web.app.ROUTERS` lists them.

- :mod:`.session`: sign-in and out, the start page, health, who am I, programmes;
- :mod:`.eligibility`: "Am I eligible?" (page and API);
- :mod:`.vouchers`: the Rewards Hub, vouchers, redemption, credits;
- :mod:`.proofs`: the published commitment, a user's proof, "Verify my payout";
- :mod:`.ops`: the programme dashboard, user search and audit trail;
- :mod:`.whatif`: the what-if simulator and policy export;
- :mod:`.selfcheck`: "Check with your own exports" (a user's uploads, checked in memory);
- :mod:`.loans`: the loan fund's JSON API and console (the library is :mod:`recompense.loans`).
"""
