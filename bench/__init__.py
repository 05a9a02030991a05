"""Lectern's benchmarks and evaluations (not run by CI); ``python -m bench`` runs them all."""
