"""Where the tests find the repository and the shared data (one place, whatever folder a test lives in)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
