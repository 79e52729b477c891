"""Studies that are not timings: LLM prompt designs (``llm_designs``), fidelity knob effects, PPO followers on
the information market against the closed forms (``rl_followers``), an ablation with Hedge followers against
the scripted one (``strategic``)."""
