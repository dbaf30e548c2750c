"""The simulator: N cores under a seeded virtual clock, its disk and fault vocabulary, and seeds run in parallel."""
