"""What an LLM follower is told: ``templates`` (the versioned prompt texts, rendered from point-in-time
views; ``TEMPLATE_VERSION`` is part of every cache key) and ``designs`` (other prompt designs of the
local backend, compared offline).
"""
