"""Extra leaders for a sweep, from ``--principal`` arguments (``mass ablation --principal SPEC``).

The paper's rows are fixed configs (``experiments.sweep.configs``); any other leader joins a sweep through
a short text spec, turned here into ``AblationConfig`` rows at each population the sweep uses:

* ``NAME[:key=value,...]``: a registered leader (``principals.available()``, entry points included);
* ``rl:PATH[,key=value,...]``: a policy saved by ``mass train-rl``; it is tied to its number of
  types, so its rows appear only at the populations it was trained for;
* ``module:Attr[:key=value,...]``: a user's own class or factory by import reference (the module is
  imported from the current folder, ``PYTHONPATH`` or an installed package). The config keeps the
  reference as its leader name, so every worker re-creates the leader from it
  (``principals.make``), with the module's folder sent along (``SweepSpec.plugin_paths``).

Every spec is checked here, before anything runs: an unknown name, an unimportable module or an
option the leader does not take is an error that lists what is valid.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import principals
from experiments.sweep.configs import AblationConfig, population_suffix
from mass_env.registry import is_reference

SPEC_FORMS = ("NAME[:key=value,...] (a registered leader)", "rl:PATH[,key=value,...] (a saved policy)",
              "module:Attr[:key=value,...] (your class or factory)")


def _value(text: str) -> Any:
    """An option value: a Python literal, true/false, or else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False}.get(text.lower(), text)


def _unknown(text: str) -> ValueError:
    return ValueError(f"unknown principal {text!r}: the registered leaders are {', '.join(principals.available())}; "
                      f"a --principal is one of: {'; '.join(SPEC_FORMS)}")


def parse_principal(text: str) -> tuple[str, dict[str, Any]]:
    """A ``--principal`` argument: ``gradient``, ``rl:PATH``, ``NAME:key=value,key=value`` or
    ``module:Attr[:key=value,...]`` (registered names win over references).

    ``rl:results/rl/policy`` -> ``("rl", {"path": "results/rl/policy"})``;
    ``gradient:lookback=5,steps=20`` -> ``("gradient", {"lookback": 5, "steps": 20})``;
    ``my_leaders:Tilted:tilt=4`` -> ``("my_leaders:Tilted", {"tilt": 4})``.
    """
    head, _, rest = text.strip().partition(":")
    name = head.strip().lower()
    if not name:
        raise ValueError(f"empty principal in {text!r}; a --principal is one of: {'; '.join(SPEC_FORMS)}")
    if name != "rl" and name not in principals.registry.PRINCIPALS:
        attr, _, after = rest.partition(":")
        if not is_reference(f"{head.strip()}:{attr.strip()}"):
            raise _unknown(text)
        name, rest = f"{head.strip()}:{attr.strip()}", after  # a reference keeps its case
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


def _base_name(name: str) -> str:
    """The config name's stem: ``GRAD``, ``SA``, ``RL``, or a reference's attribute (``TILTED``)."""
    if is_reference(name):
        return name.rsplit(":", 1)[1].rsplit(".", 1)[-1].upper()
    return name.upper() if name != "gradient" else "GRAD"


def principal_configs(texts: Sequence[str], populations: Sequence[tuple[int, int]]) -> list[AblationConfig]:
    """``AblationConfig`` rows for ``--principal`` arguments at each population (for ``mass ablation``).

    An RL policy is tied to its number of types, so ``rl:PATH`` adds rows only at the populations with
    that many types (an error if there is none). Every other leader is built once here, so a bad
    name or option fails now with a clear message rather than in a worker.
    """
    out = []
    for text in texts:
        name, options = parse_principal(text)
        written = dict(options)  # the table's label keeps what was typed (``alpha1``, not ``alpha1.0``)
        if name != "rl":  # type and check the options now, not in a worker (a policy loads per run)
            options = principals.registry.typed(name, options)
            principals.make(name, **options)
        pops = list(populations)
        if name == "rl":
            k = policy_types(options["path"])
            pops = [p for p in pops if k is None or p[0] == k]
            if not pops:
                raise ValueError(f"the policy {options['path']} is for {k} types; no selected population has {k}")
        base = _base_name(name)
        tag = "" if name == "rl" or not [o for o in options if o != "path"] else "-" + "-".join(
            f"{k}{v}" for k, v in written.items() if k != "path")
        for pop in pops:
            out.append(AblationConfig(base + tag + population_suffix(pop), name, options, pop[0], pop[1],
                                      float(options.get("turnover_penalty", 0.0)), label=text))
    return out



def importable_from_cwd() -> None:
    """Let ``module:Attr`` specs name modules in the current folder, as ``python -m`` does (the ``mass``
    console script's ``sys.path`` starts with its own bin folder instead)."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def leader_lines() -> list[str]:
    """``mass ablation --list``'s leader lines: name, table label and what it is, then the spec forms."""
    rows = principals.registry.listing()
    width = max(map(len, rows), default=0)
    lines = [f"  {n:<{width}}  {label:<10} {doc}" for n, (label, doc) in rows.items()]
    return lines + ["  --principal forms: " + "; ".join(SPEC_FORMS)]
