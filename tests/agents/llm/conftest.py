"""What the LLM tests against a misbehaving OpenAI-compatible server (``llm_fault_server`` on 127.0.0.1) share."""

from __future__ import annotations

import llm_fault_server as fs
import pytest


@pytest.fixture
def fault_server():
    """``fault_server(behaviour)`` starts a fault server (``behaviour(body) -> (code, payload, delay)``);
    every server started is closed after the test."""
    made: list[fs.FaultServer] = []

    def make(behaviour=lambda body: fs.ok()) -> fs.FaultServer:
        made.append(fs.FaultServer(behaviour))
        return made[-1]

    yield make
    for s in made:
        s.close()
