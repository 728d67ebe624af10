"""Commands for the voucher ledger (distribute, status, reconcile, notify, redeem, expire)."""
