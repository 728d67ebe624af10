"""Commands for published commitments and proofs (commit, proof, verify)."""
