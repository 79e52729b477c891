"""Stand-ins for a user's own package: modules that register entries at import time."""
