"""Where independent runs execute: serial, a local process pool, or Ray (``executors``)."""
