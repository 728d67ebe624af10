"""Importers: other systems' files in, the data contract out.

``binance``  Binance's own futures exports (web CSV and REST API JSON) → a contract
             dataset plus an import report; the trader's self-check builds on it.
"""
