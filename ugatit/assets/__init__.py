"""Downloads and unpacking of checkpoints, data sets and the demo data."""
