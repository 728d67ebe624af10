from __future__ import annotations

import pytest

from recompense.whatif import Population, load


@pytest.fixture(scope="session")
def population(small_run) -> Population:
    return load(small_run)
