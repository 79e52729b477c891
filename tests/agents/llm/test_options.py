"""The ``--llm-*`` options of ``mass`` (``agents.llm.options``): they reach the followers, name the run by what
changes answers, and ``mass ablation`` against a failing OpenAI-compatible server (``llm_fault_server`` on
127.0.0.1) counts the failures, exits non-zero and asks again after the server recovers."""

from __future__ import annotations

import json

import llm_fault_server as fs
import pytest
from llm_fault_client import FAULT_KEY
from llm_play import make_env, play

from agents.llm import ResponseCache

SECRET = FAULT_KEY


# ------------------------------------------------------------------ the CLI end to end
def mass(argv: list[str], capsys) -> tuple[int, str, str]:
    from experiments.cli import main

    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_failed_answers_are_counted_exit_non_zero_and_asked_again_after_recovery(fault_server, monkeypatch, capsys,
                                                                                tmp_path):
    pytest.importorskip("openai")
    srv = fault_server(lambda body: fs.echo_key())
    monkeypatch.setenv("MASS_FAULT_KEY", SECRET)
    out = tmp_path / "out"
    argv = ["ablation", "--followers", "llm", "--llm-backend", "openai", "--llm-model", fs.MODEL,
            "--llm-base-url", srv.base_url, "--llm-api-key-env", "MASS_FAULT_KEY", "--llm-timeout", "10",
            "--llm-retries", "0", "--llm-concurrency", "8", "--llm-candidates", "3", "--configs", "A",
            "--seeds", "1", "--days", "45", "--agents", "1", "--baselines", "none", "--no-plot", "--out", str(out)]
    (tmp_path / "bad.sqlite").write_bytes(b"not sqlite" * 100)
    rc, so, se = mass(argv + ["--llm-cache", str(tmp_path / "bad.sqlite")], capsys)
    assert rc == 2 and "bad.sqlite is not a usable LLM response cache" in se and "Traceback" not in se
    rc, so, se = mass(argv, capsys)
    assert rc == 3, se
    assert "192 failed" in so and "client_error 192" in so and "error:" in se, so
    summary = json.loads((out / "ablation.json").read_text())
    assert summary["follower_answers"]["failed"] == 192 == summary["follower_answers"]["unanswered"]
    assert summary["follower_answers"]["incomplete_runs"] == [["A", 0]]
    every = so + se + "".join(p.read_bytes().decode("latin-1") for p in out.rglob("*") if p.is_file())
    assert SECRET not in every
    assert ResponseCache(out / "llm-cache.sqlite").status_counts() == {}  # failures are not answers

    srv.behaviour = lambda body: fs.ok()  # the server recovers: the stored run is incomplete, asked again
    n = len(srv.requests)
    rc, so, se = mass(argv, capsys)
    assert rc == 0, se
    assert len(srv.requests) - n == 192 and "incomplete" in se and "0 failed" in so
    n = len(srv.requests)
    rc, so, se = mass(argv, capsys)  # complete now: reused, no calls
    assert rc == 0 and len(srv.requests) == n and "1 reused" in so


def test_follower_factory_and_cli_options(small_market, tmp_path):
    import argparse

    from agents.llm.options import add_arguments, factory_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    a = p.parse_args(["--llm-backend", "scripted", "--llm-candidates", "5"])
    fac = factory_from_args(a, tmp_path)
    assert fac.name.startswith("llm-scripted-") and all(s.exists() for s in fac.sources)
    other = factory_from_args(p.parse_args(["--llm-backend", "scripted", "--llm-candidates", "6"]), tmp_path)
    assert other.name != fac.name  # options that change answers change the run name
    env = make_env(small_market[0], 2, 2)
    f1, f2 = fac(env, 0), fac(env, 1)
    assert f1.backend is f2.backend  # one backend (one model load) per sweep
    play(env, f1, seed=0)
    assert (tmp_path / "llm-cache.sqlite").exists() and f1.report()["cache"]["writes"] == 6 * 4
    with pytest.raises(ValueError):
        factory_from_args(p.parse_args(["--llm-backend", "openai"]), tmp_path)  # needs --llm-model


def test_cli_flags_reach_the_followers(tmp_path):
    from agents.llm.options import population_options
    from experiments.cli import build_parser

    args = build_parser().parse_args(["ablation", "--followers", "llm", "--llm-backend", "scripted",
                                      "--llm-decode", "sample", "--llm-personas", "3", "--llm-risk", "0.5",
                                      "--llm-anonymize", "on"])
    opts = population_options(args, tmp_path)
    assert (opts["decode"], opts["personas"], opts["risk"], opts["anonymize"]) == ("sample", 3, 0.5, True)
    default = population_options(build_parser().parse_args(["ablation", "--followers", "llm"]), tmp_path)
    assert (default["decode"], default["personas"], default["anonymize"]) == ("expected", 1, None)

    assert "told" not in default and "pay_days" not in default  # plain followers: their run keys are unchanged


def test_told_flags_name_the_rule_and_refuse_what_cannot_be_told(tmp_path, capsys):
    from agents.llm.follower import llm_identity
    from agents.llm.options import population_options
    from experiments.cli import build_parser

    def parse(*flags):
        return build_parser().parse_args(["ablation", "--followers", "llm", "--llm-backend", "scripted", *flags])

    opts = population_options(parse("--llm-told", "consensus:r=0.6", "--llm-pay-days", "2"), tmp_path)
    assert (opts["told"], opts["pay_days"]) == ("consensus:r=0.6", 2)
    assert "told" in llm_identity(**opts) and "told" not in llm_identity(backend="scripted")
    assert population_options(parse("--llm-told", "view"), tmp_path)["told"] == "view"
    with pytest.raises(SystemExit):
        parse("--llm-told", "nope")
    err = capsys.readouterr().err
    assert "weighted_skill" in err and "'view'" in err  # the valid rules and the control are named
    with pytest.raises(ValueError, match="--llm-output score"):
        population_options(parse("--llm-told", "skill", "--llm-output", "select"), tmp_path)
