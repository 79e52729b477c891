"""Studies that are not timings: LLM prompt designs (``llm_designs``), fidelity knob effects."""
