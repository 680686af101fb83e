"""Unit tests of the structured log lines."""

from __future__ import annotations


def test_settled_lines_are_structured_and_never_carry_the_prompt(capsys):
    import json

    from imagegen.core import request_log

    request_log.settled("r1", "u1", "model-a", "512x512", 1, "completed", 12.345)
    request_log.settled("r2", "u1", "model-b", "1024x1024", 3, "failed", 40.0, mode="async")
    request_log.left_to_sweeper("r3", "u1", "the settlement could not land")
    out = capsys.readouterr()
    lines = [json.loads(line) for line in (out.out + out.err).splitlines() if line.strip()]
    by_id = {line.get("requestId"): line for line in lines}
    assert by_id["r1"]["severity"] == "INFO" and by_id["r1"]["latencyMs"] == 12.3
    assert by_id["r1"]["outcome"] == "completed" and by_id["r1"]["cost"] == 1
    assert by_id["r2"]["severity"] == "WARNING" and by_id["r2"]["mode"] == "async"
    assert by_id["r3"]["severity"] == "ERROR" and "sweeper" in by_id["r3"]["message"]
    assert all("prompt" not in line for line in lines)
