"""Experiments: the ``mass`` command line and what its commands run."""

import mass_env.removed  # noqa: F401  (old import paths raise an ImportError naming the new one)
