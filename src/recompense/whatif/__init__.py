"""The what-if simulator: change the rules of a published run and see the effect at once.

::

    load(run) -> Population        the run folder read once into numpy arrays (cache it)
    simulate(population, Changes(...)) -> Outcome
                                   eligibility, cost, λ, distribution, gainers/losers
    payouts(population, Changes(...)) -> Payouts
                                   the same, per user (who is eligible, what each gets)
    export_policy(run | policy file | Policy, Changes(...)) -> str
                                   the changed programme file (TOML)

- :mod:`~recompense.whatif.changes`: :class:`Changes` (validated overrides), :class:`Settings`;
- :mod:`~recompense.whatif.population`: :func:`load`, :class:`Population`;
- :mod:`~recompense.whatif.simulate`: the engine's rules and the real solver on arrays;
- :mod:`~recompense.whatif.stats`: histogram, quantiles, Lorenz curve, movers;
- :mod:`~recompense.whatif.export`: a new policy file with the changes applied.

The published run is only read, never written. Errors: :class:`ChangeError` (an
``InputError``: field, value, problem) for a bad change; ``RunFolderError`` for a folder
that is not a complete run.
"""

from recompense.runs.policy import policy_of_run
from recompense.whatif.changes import Changes, Settings
from recompense.whatif.errors import ChangeError
from recompense.whatif.export import export_policy
from recompense.whatif.population import Population, load
from recompense.whatif.simulate import Outcome, Payouts, payouts, simulate
from recompense.whatif.stats import Distribution, Histogram, Movement, Mover

__all__ = [
    "ChangeError",
    "Changes",
    "Distribution",
    "Histogram",
    "Movement",
    "Mover",
    "Outcome",
    "Payouts",
    "Population",
    "Settings",
    "export_policy",
    "load",
    "payouts",
    "policy_of_run",
    "simulate",
]
