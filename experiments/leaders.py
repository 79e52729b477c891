"""Extra leaders for a sweep, from ``--principal`` arguments (``mass ablation --principal SPEC``).

The paper's rows are fixed configs (``experiments.configs``); any other registered leader joins a
sweep through a short text spec, ``NAME[:key=value,...]`` or ``rl:PATH``, turned here into
``AblationConfig`` rows at each population the sweep uses. An RL policy is tied to its number of
types, so ``rl:PATH`` rows appear only at the populations it was trained for.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .configs import AblationConfig, population_suffix


def _value(text: str) -> Any:
    """An option value: a Python literal, true/false, or else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False}.get(text.lower(), text)


def parse_principal(text: str) -> tuple[str, dict[str, Any]]:
    """A ``--principal`` argument: ``gradient``, ``rl:PATH``, or ``NAME:key=value,key=value``.

    ``rl:results/rl/policy`` -> ``("rl", {"path": "results/rl/policy"})``;
    ``gradient:lookback=5,steps=20`` -> ``("gradient", {"lookback": 5, "steps": 20})``.
    """
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    if not name:
        raise ValueError(f"empty principal in {text!r}")
    if name == "rl":
        m = re.match(r"^(.*?)(?:,(\w+=.*))?$", rest)  # the path, then optional ,key=value pairs
        path, opts = (m.group(1), m.group(2) or "") if m else (rest, "")
        if not path:
            raise ValueError("--principal rl needs a policy path: rl:PATH (train one with `mass train-rl`)")
        options: dict[str, Any] = {"path": path}
        rest = opts
    else:
        options = {}
    for part in (x for x in rest.split(",") if x.strip()):
        if "=" not in part:
            raise ValueError(f"principal options are key=value pairs, got {part!r} in {text!r}")
        k, v = part.split("=", 1)
        options[k.strip()] = _value(v.strip())
    return name, options


def policy_types(path: str | Path) -> int | None:
    """Number of types a saved policy was trained for (from its JSON; None when unknown)."""
    from principals.rl import policy_paths

    jpath = policy_paths(path)[1]
    if not jpath.exists():
        return None
    return int(json.loads(jpath.read_text()).get("n_types", 0)) or None


def principal_configs(texts: Sequence[str], populations: Sequence[tuple[int, int]]) -> list[AblationConfig]:
    """``AblationConfig`` rows for ``--principal`` arguments at each population (for ``mass ablation``).

    An RL policy is tied to its number of types, so ``rl:PATH`` adds rows only at the populations with
    that many types (an error if there is none).
    """
    out = []
    for text in texts:
        name, options = parse_principal(text)
        pops = list(populations)
        if name == "rl":
            k = policy_types(options["path"])
            pops = [p for p in pops if k is None or p[0] == k]
            if not pops:
                raise ValueError(f"the policy {options['path']} is for {k} types; no selected population has {k}")
        base = name.upper() if name != "gradient" else "GRAD"
        tag = "" if name == "rl" or not [o for o in options if o != "path"] else "-" + "-".join(
            f"{k}{v}" for k, v in options.items() if k != "path")
        for pop in pops:
            out.append(AblationConfig(base + tag + population_suffix(pop), name, options, pop[0], pop[1],
                                      float(options.get("turnover_penalty", 0.0)), label=text))
    return out

