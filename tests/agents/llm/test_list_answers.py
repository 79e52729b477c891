"""Reading a served model's JSON list answer (``agents.llm.backends.list_answers``)."""

from __future__ import annotations

from agents.llm.backends.list_answers import parse_ratings


def test_parse_ratings_accepts_fenced_json_and_bare_objects():
    syms = ("A", "B")
    assert parse_ratings('```json\n{"ratings": {"A": 1, "B": 5}}\n```', syms)[0] == {"A": 1, "B": 5}
    assert parse_ratings('{"A": 2, "B": 3.0}', syms)[0] == {"A": 2, "B": 3}
    assert parse_ratings('{"A": true, "B": 3}', syms)[0] is None
    assert parse_ratings('{"A": "4", "B": 3}', syms)[0] is None
    assert parse_ratings("", syms)[0] is None


def test_parse_ratings_reads_an_integer_json_cannot_convert_as_malformed_not_a_crash():
    # json raises a bare ValueError (no .msg) past Python's integer-digits limit
    ratings, why = parse_ratings('{"A": ' + "1" * 5000 + ', "B": 3}', ("A", "B"))
    assert ratings is None and why.startswith("not JSON")

