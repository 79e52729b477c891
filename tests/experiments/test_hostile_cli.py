"""The command line against hostile input: secrets in flags never reach a file or a log, every option is
validated before any compute, every size is bounded before allocation, damaged inputs are clear errors."""

from __future__ import annotations

import json
import sys

import llm_fault_server as fs
import pytest

from experiments import cli

pytest.importorskip("openai")

PASSWORD, QUERY_KEY, FLAG_KEY = "hunter2-password", "QUERYSECRET123456", "sk-given-by-mistake-0123456789"
TINY = ["--configs", "A", "--seeds", "1", "--agents", "1", "--days", "60", "--boot", "0", "--baselines", "none",
        "--no-plot", "--quiet"]


@pytest.fixture
def server():
    srv = fs.FaultServer()
    yield srv
    srv.close()


def _files_and_logs_hold_no_secret(out, captured, secrets):
    texts = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    texts["stdout"], texts["stderr"] = captured.out.encode(), captured.err.encode()
    for name, data in texts.items():
        for s in secrets:
            assert s.encode() not in data, f"{s!r} leaked into {name}"


@pytest.mark.parametrize("query", ["", f"?api_key={QUERY_KEY}"], ids=["userinfo", "userinfo-and-query-key"])
def test_credentials_in_the_base_url_never_reach_a_file_or_a_log(query, server, tmp_path, capsys, monkeypatch):
    host = server.base_url.split("//", 1)[1]
    url = f"http://alice:{PASSWORD}@{host}{query}"
    argv = ["mass", "ablation", *TINY, "--followers", "llm", "--llm-backend", "openai", "--llm-model", fs.MODEL,
            "--llm-base-url", url, "--llm-candidates", "3", "--out", str(tmp_path / "o")]
    monkeypatch.setattr(sys, "argv", argv)  # ablation.json records the command line
    rc = cli.main(argv[1:])
    assert rc == 0 and server.requests  # the query travels with every request, apart from the path
    assert all(r["path"].split("?")[0] == "/v1/chat/completions" for r in server.requests)
    assert all(f"api_key={QUERY_KEY}" in r["path"] for r in server.requests) == bool(query)
    summary = json.loads((tmp_path / "o" / "ablation.json").read_text())
    assert "[redacted]" in json.dumps(summary["command"])
    _files_and_logs_hold_no_secret(tmp_path / "o", capsys.readouterr(), [PASSWORD, QUERY_KEY])


def test_a_key_given_to_api_key_env_is_refused_without_being_shown(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["ablation", *TINY, "--followers", "llm", "--llm-backend", "openai", "--llm-model", fs.MODEL,
                  "--llm-api-key-env", FLAG_KEY, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "NAME of an environment variable" in err and FLAG_KEY not in err
    assert not (tmp_path / "o").exists()


def test_an_api_key_env_that_is_not_set_is_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MASS_NO_SUCH_KEY", raising=False)
    rc = cli.main(["ablation", *TINY, "--followers", "llm", "--llm-backend", "openai", "--llm-model", fs.MODEL,
                   "--llm-api-key-env", "MASS_NO_SUCH_KEY", "--out", str(tmp_path / "o")])
    assert rc == 2 and "MASS_NO_SUCH_KEY, which is not set" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["ablation", "--llm-timeout", "inf"], "--llm-timeout: seconds in (0, 3600]"),
    (["ablation", "--llm-timeout", "1e9"], "--llm-timeout: seconds in (0, 3600]"),
    (["ablation", "--llm-timeout", "nan"], "--llm-timeout: seconds in (0, 3600]"),
    (["ablation", "--llm-concurrency", "0"], "--llm-concurrency: an integer in 1..1024"),
    (["run", "--types", "1000000"], "--types: must be <= 4096, got '1000000'"),
    (["ablation", "--days", "100000000"], "--days: must be <= 100000"),
    (["ablation", "--boot", "1000000000"], "--boot: must be <= 1000000, got '1000000000'"),
    (["reproduce", "--boot", "1000000000"], "--boot: must be <= 1000000, got '1000000000'"),
    (["train-rl", "--days", "100000000"], "--days: must be <= 100000"),
])
def test_unbounded_values_are_usage_errors_naming_the_bound(argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2 and words in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["run", "--agents", "10000000"], "80,000,000 agents on"),
    (["ablation", "--agents", "10000000", "--configs", "A", "--seeds", "1", "--baselines", "none"],
     "config A: 8 types x 10000000 agents"),
])
def test_a_population_that_would_not_fit_in_memory_is_refused_before_allocating(argv, words, tmp_path, capsys):
    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert words in err and "GiB" in err and "Traceback" not in err
    assert not list((tmp_path / "o").rglob("*.parquet"))  # refused before any run


def test_a_bootstrap_that_would_not_fit_is_refused_before_the_runs(tmp_path, capsys, monkeypatch):
    from experiments.sweep import checks

    monkeypatch.setattr(checks, "memory_budget", lambda: 1 << 20)  # a 2 MiB machine
    rc = cli.main(["ablation", "--configs", "A", "--seeds", "1", "--baselines", "none", "--boot", "1000",
                   "--no-plot", "--quiet", "--out", str(tmp_path / "o")])
    assert rc == 2 and "--boot 1000 over 1 seed(s)" in capsys.readouterr().err
    assert not list((tmp_path / "o").rglob("*.parquet"))


def test_llm_diagnostics_on_a_garbage_cache_or_missing_data_is_a_clear_error(tmp_path, capsys):
    junk = tmp_path / "llm-cache.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    assert cli.main(["llm-diagnostics", "--cache", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "is not a usable LLM response cache" in err and "Traceback" not in err
    assert junk.read_bytes().startswith(b"this is not")  # left as it was
    assert cli.main(["llm-diagnostics", "--cache", str(tmp_path / "none.sqlite")]) == 2
    assert "no cache file" in capsys.readouterr().err
    import sqlite3

    sqlite3.connect(str(tmp_path / "empty.sqlite")).close()
    assert cli.main(["llm-diagnostics", "--cache", str(tmp_path / "empty.sqlite"), "--data",
                     str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
