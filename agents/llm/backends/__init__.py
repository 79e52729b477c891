"""LLM backends: one interface (``base``), made by name (``registry``).

``base`` (the requests, answers and their statuses, the ``Backend`` protocol, ``BaseBackend``,
``ScriptedBackend``), ``registry`` (``make_backend``, ``register_backend``), ``local`` (transformers,
offline; its model files in ``model_files``), ``openai`` (any OpenAI-compatible server: JSON lists
parsed by ``list_answers``, per-stock log-prob ratings by ``served_rating``, requests run by ``aio``),
``llamacpp_server`` (a local llama.cpp server for the latter). Importing this package imports no model
library: ``local`` and ``openai`` load theirs when a backend is built.
"""
