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
def log_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, logs.BatchedLines]]:
    """A handler on a file that writes only when the test calls flush(): its writer thread
    waits FLUSH_SECONDS between batches, set past the test's end before the thread starts."""
    monkeypatch.setattr(logs, "FLUSH_SECONDS", 3600)
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


class LineAtEachWait:
    """Stands in for a handler's `due` event. As each of the writer thread's first waits
    begins, it counts the lines in the file, then logs one more: the worst moment to log,
    a whole wait before the next batch is written."""

    def __init__(self, handler: logs.BatchedLines, path: Path, lines: int) -> None:
        self.handler, self.due, self.path, self.lines = handler, handler.due, path, lines
        self.timeouts: list[float | None] = []
        self.in_file: list[int] = []  # lines in the file as each wait began

    def wait(self, timeout: float | None = None) -> bool:
        self.in_file.append(self.path.read_text().count("\n"))
        self.timeouts.append(timeout)
        if len(self.timeouts) <= self.lines:
            self.handler.handle(record(f"line {len(self.timeouts)}"))
        return self.due.wait(timeout)

    def set(self) -> None:
        self.due.set()

    def clear(self) -> None:
        self.due.clear()


def test_lines_are_written_within_the_flush_interval(tmp_path: Path) -> None:
    """A line that no one flushes is written when the writer thread's wait of FLUSH_SECONDS
    ends. Counted in the writer's own waits, not in wall time, which a loaded machine
    stretches: the line logged as a wait begins is in the file when the next one begins."""
    path = tmp_path / "app.log"
    handler = logs.BatchedLines(path)
    waits = LineAtEachWait(handler, path, lines=3)
    handler.due = waits  # type: ignore[assignment]  # from the writer's next wait on
    try:
        deadline = time.monotonic() + 30  # a ceiling, far past four waits of 0.2 s
        while len(waits.in_file) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert waits.in_file[:4] == [0, 1, 2, 3]
        assert set(waits.timeouts) == {logs.FLUSH_SECONDS}
        assert path.read_text().splitlines() == ["line 1", "line 2", "line 3"]
    finally:
        handler.close()


def test_a_warning_is_written_at_once_other_lines_in_the_next_batch(
    log_file: tuple[Path, logs.BatchedLines],
) -> None:
    path, handler = log_file  # no batch falls due during the test
    handler.handle(record("request answered"))
    time.sleep(0.5)
    assert path.read_text() == "", "an INFO line was written before its batch was due"
    handler.handle(record("disk almost full", logging.WARNING))
    wait_for(path, "disk almost full", seconds=30)
    assert path.read_text() == "request answered\ndisk almost full\n"


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


def test_access_lines_are_formatted_in_order_and_a_bad_one_stops_nothing(
    log_file: tuple[Path, logs.BatchedLines], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, handler = log_file
    monkeypatch.setattr(logs.access, "json", True)
    entry = (time.time(), "trace-2", "GET", "/api/hello", "200 OK", 0.0012, "127.0.0.1", "-")
    handler.emit(record("before"))
    handler.add(entry)
    handler.add(("not", "an", "entry"))  # type: ignore[arg-type]
    handler.emit(record("after"))
    handler.flush()
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("before") and lines[3].endswith("after")
    access = json.loads(lines[1])
    assert (access["request_id"], access["status"], access["duration_ms"]) == ("trace-2", 200, 1.2)
    assert lines[2] == "access line not formatted: ('not', 'an', 'entry')"
