"""Exceptions with names that say what went wrong (all are ``ValueError`` subclasses)."""

from __future__ import annotations


class MassError(ValueError):
    """Base class for every input error raised by this project."""


class LookAheadError(MassError):
    """A point-in-time view was asked for data after its as-of day."""


class DataError(MassError):
    """Market data is malformed: missing columns, unknown symbols, bad shapes, empty days."""


class ActionError(MassError):
    """An action (weights, alpha, lambda or follower signals) is malformed: NaN, negative, wrong shape."""
