"""Judging any core (docs/core-contract.md): the paper's claims as transcripts, the scorecard, broken cores."""
