"""Cases: users' appeals and claims, worked by operations, decided under four eyes.

Accepted decisions flow into amendment runs (:mod:`recompense.amend`), which pay only
the difference. See :mod:`.schema` for the tables and the state machine.
"""
