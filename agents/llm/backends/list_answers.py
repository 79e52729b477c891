"""The JSON list answer of the OpenAI backend's list format: ``{"ratings": {SYMBOL: R}}`` read back.

Its own module because it is pure text handling, testable without a server, and kept apart from the
backend's transport (``agents.llm.backends.openai``). The request side (instructions, user message,
JSON schema) lives with the other prompt texts in ``agents.llm.prompts.templates``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

#: part of the backend's identity: a change to how answers are asked for or read bumps it
LIST_FORMAT_VERSION = "list-json/1"
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_ratings(text: str | None, symbols: Sequence[str]) -> tuple[dict[str, int] | None, str]:
    """Ratings for every symbol from an answer text, or ``(None, why)``."""
    if text is None or not text.strip():
        return None, "empty answer"
    body = _FENCE.sub("", text.strip())
    try:
        data = json.loads(body)
    except ValueError as exc:
        return None, f"not JSON: {getattr(exc, 'msg', exc)}"  # json raises bare ValueErrors too (huge ints)
    if isinstance(data, dict) and isinstance(data.get("ratings"), dict):
        data = data["ratings"]
    if not isinstance(data, dict):
        return None, "JSON is not an object of ratings"
    out: dict[str, int] = {}
    missing, bad = [], []
    for s in symbols:
        v = data.get(s)
        if v is None:
            missing.append(s)
        elif (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or float(v) != int(v)
              or not 1 <= int(v) <= 5):
            bad.append(s)
        else:
            out[s] = int(v)
    if missing or bad:
        return None, f"{len(missing)} candidate(s) missing, {len(bad)} rating(s) off the 1..5 scale"
    return out, ""
