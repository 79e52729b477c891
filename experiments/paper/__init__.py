"""The seed paper: its conditions (``fidelity``), published numbers and claims, and their reproduction."""
