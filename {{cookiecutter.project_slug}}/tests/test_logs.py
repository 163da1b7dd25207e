"""service/logs.py: JSON lines with their fields, written whole and in batches."""

import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import logs


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[tuple[Path, logs.BatchedLines]]:
    path = tmp_path / "app.log"
    handler = logs.BatchedLines(path)
    yield path, handler
    handler.close()


def record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("test", level, __file__, 1, message, None, None)
    made.__dict__.update(extra)
    return made


def test_json_line_holds_the_fields_and_the_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        failed = record("it failed", fields={"status": 500}, request_id="trace-1")
        failed.exc_info = sys.exc_info()
    line = json.loads(logs.JsonFormatter().format(failed))
    assert line["message"] == "it failed"
    assert (line["level"], line["logger"], line["request_id"]) == ("INFO", "test", "trace-1")
    assert line["status"] == 500
    assert line["time"].endswith("+00:00")
    assert "ValueError: broken" in line["exc_info"]


def wait_for(path: Path, text: str, seconds: float) -> float:
    started = time.monotonic()
    while text not in (path.read_text() if path.exists() else ""):
        if time.monotonic() - started > seconds:
            pytest.fail(f"{text!r} not written within {seconds} s")
        time.sleep(0.01)
    return time.monotonic() - started


def test_lines_are_written_within_the_flush_interval(
    log_file: tuple[Path, logs.BatchedLines],
) -> None:
    path, handler = log_file
    for number in range(100):
        handler.handle(record(f"line {number}"))
    wait_for(path, "line 99\n", logs.FLUSH_SECONDS + 1)
    assert path.read_text().splitlines() == [f"line {number}" for number in range(100)]


def test_a_warning_is_written_at_once_other_lines_in_the_next_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "FLUSH_SECONDS", 30)  # no batch falls due during the test
    path = tmp_path / "app.log"
    handler = logs.BatchedLines(path)
    try:
        handler.handle(record("request answered"))
        time.sleep(0.5)
        assert path.read_text() == "", "an INFO line was written before its batch was due"
        handler.handle(record("disk almost full", logging.WARNING))
        wait_for(path, "disk almost full", seconds=5)
        assert path.read_text() == "request answered\ndisk almost full\n"
    finally:
        handler.close()


def test_each_write_is_whole_lines_of_at_most_4_kib(
    log_file: tuple[Path, logs.BatchedLines], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes up to PIPE_BUF reach a pipe whole, so workers' lines never interleave."""
    _, handler = log_file
    writes: list[bytes] = []
    real_write = logs.os.write

    def write(fd: int, data: bytes) -> int:
        if fd == handler.fd:
            writes.append(data)
        return real_write(fd, data)

    monkeypatch.setattr(logs.os, "write", write)
    for number in range(300):
        handler.handle(record(f"{number:04d} " + "x" * 60))
    handler.flush()
    assert len(writes) > 1
    assert all(len(data) <= logs.CHUNK_BYTES and data.endswith(b"\n") for data in writes)
    assert b"".join(writes).decode().splitlines() == [
        f"{number:04d} " + "x" * 60 for number in range(300)
    ]


def test_a_log_file_rotated_by_copytruncate_goes_on_at_its_start(
    log_file: tuple[Path, logs.BatchedLines],
) -> None:
    path, handler = log_file
    handler.handle(record("before rotation"))
    handler.flush()
    path.with_suffix(".log.1").write_bytes(path.read_bytes())  # what logrotate's
    path.write_bytes(b"")  # copytruncate does: copy, then truncate in place
    handler.handle(record("after rotation"))
    handler.flush()
    assert path.read_text() == "after rotation\n"
