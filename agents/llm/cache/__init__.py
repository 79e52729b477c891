"""The answer cache of LLM followers and what makes a replay cheap.

``store`` (``ResponseCache``, ``CachedBackend``: SQLite in WAL mode), ``branches`` (per-stock ratings
shared by every agent, seed and config), ``tables`` (a day's ratings served as one table on a replay),
``identity`` (what determines a backend's answers: the root of every key) and ``prefetch`` (a study's
ratings computed once, split by day over processes).
"""
