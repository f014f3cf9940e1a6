"""Measurement tools run by hand (python -m ugatit.benchmarks.<tool>); never imported by the product."""
