"""What every benchmark shares, imported first (``from common import ...``) by each ``bench_*.py``.

Importing it puts this checkout's root on ``sys.path``, so ``python benchmarks/bench_x.py`` measures the
code next to it (not an installed copy); ``MASS_BENCH_CODE`` points at another tree instead (a
benchmark comparing against older code sets it for its child processes). ``SHARED_DATA`` is the shared
data folder: ``$MASS_DATA_ROOT``, default ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The repository's root (the folder holding ``benchmarks/``).
ROOT = Path(__file__).resolve().parents[1]
#: The tree whose packages the benchmarks import.
CODE = os.environ.get("MASS_BENCH_CODE", str(ROOT))
if CODE not in sys.path:
    sys.path.insert(0, CODE)

#: The shared research data (SSE50, CSI300, US): ``$MASS_DATA_ROOT`` or ``../shared/data``.
SHARED_DATA = Path(os.environ.get("MASS_DATA_ROOT", ROOT.parent / "shared" / "data"))
