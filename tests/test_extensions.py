"""Issue 27: an output or a sink added in a folder of its own plus one registration
line (safetyd/extensions/). The tests register one of each, as that line would, and
check everything else follows from it: the loader checks its table, the daemon
shows it every frame, reloads and stops it, and alert delivery routes to the sink.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import BASE_TOML, FIXTURES, write_config
from pydantic import Field

from safetyd import extensions
from safetyd.abc import ZoneView
from safetyd.assembly import load as cfg
from safetyd.base.alerts import Alert, AlertKind
from safetyd.base.problems import InvalidConfig
from safetyd.config.types import Base


class BoardSettings(Base):
    """An example output's table: a wall board that shows every zone's level."""

    label: str = Field(description="what the board is called")
    fail_start: bool = Field(False, description="refuse to start (a device that is missing)")


class Board:
    """The example output: remembers what it was shown."""

    started: list[Board] = []

    def __init__(self, settings: BoardSettings) -> None:
        if settings.fail_start:
            raise ConnectionRefusedError("the board does not answer")
        self.settings = settings
        self.views: list[ZoneView] = []
        self.stopped = False
        Board.started.append(self)

    def show_frame(self, view: ZoneView) -> None:
        self.views.append(view)

    def stop(self) -> None:
        self.stopped = True

    def stalled(self, now: float) -> list[str]:
        return []


class PagerSettings(Base):
    channel: str = Field(description="the pager channel")


class Pager:
    name = "pager"
    addressed = False

    def __init__(self, settings: PagerSettings) -> None:
        self.channel = settings.channel
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> str | None:
        self.sent.append(alert)
        return None


PAGERS: list[Pager] = []


def _pager(settings: PagerSettings) -> Pager:
    PAGERS.append(Pager(settings))
    return PAGERS[-1]


@pytest.fixture
def registered(monkeypatch):
    """The two registration lines, as a contributor writes them."""
    Board.started.clear()
    PAGERS.clear()
    monkeypatch.setattr(
        extensions, "OUTPUTS", (extensions.OutputKind("board", BoardSettings, Board),)
    )
    monkeypatch.setattr(extensions, "SINKS", (extensions.SinkKind("pager", PagerSettings, _pager),))


def _problems(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(InvalidConfig) as err:
        cfg.load(path)
    return [(p.where, p.message) for p in err.value.problems]


def test_an_unregistered_table_or_sink_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, BASE_TOML + '\n[board]\nlabel = "hall"\n')
    assert any(w == "board" and "unknown key 'board'" in m for w, m in _problems(path))
    toml = BASE_TOML.replace('sinks = ["log"]', 'sinks = ["log", "pager"]')
    path = write_config(tmp_path, toml)
    (problem,) = _problems(path)
    assert problem[0] == "alerts.sinks" and "unknown sink 'pager'" in problem[1]


def test_a_registered_table_is_checked_against_its_own_schema(tmp_path: Path, registered) -> None:
    path = write_config(tmp_path, BASE_TOML + '\n[board]\nlabel = "hall"\n')
    loaded = cfg.load(path)
    assert loaded.sections["board"] == BoardSettings(label="hall")
    path = write_config(tmp_path, BASE_TOML + '\n[board]\nlabel = "hall"\ncolour = "red"\n')
    (where, message), = _problems(path)  # fmt: skip
    assert where == "board.colour"
    assert "unknown key 'colour'" in message and "allowed here: fail_start, label" in message
    path = write_config(tmp_path, BASE_TOML + "\n[board]\n")
    assert _problems(path) == [("board.label", "required key is missing: what the board is called")]
    # A sink listed without its table, and then with it.
    toml = BASE_TOML.replace('sinks = ["log"]', 'sinks = ["log", "pager"]')
    (where, message), = _problems(write_config(tmp_path, toml))  # fmt: skip
    assert (where, message) == (
        "alerts.sinks",
        "sinks include 'pager' but there is no [alerts.pager] section",
    )
    loaded = cfg.load(write_config(tmp_path, toml + '\n[alerts.pager]\nchannel = "7"\n'))
    assert loaded.sections["alerts.pager"] == PagerSettings(channel="7")
    assert loaded.config.alerts.sinks == ["log", "pager"]


def test_a_registered_sink_gets_its_messages(tmp_path: Path, registered) -> None:
    from safetyd.alerts.service import AlertService
    from safetyd.storage.store import Store

    toml = BASE_TOML.replace('sinks = ["log"]', 'sinks = ["log", "pager"]')
    loaded = cfg.load(write_config(tmp_path, toml + '\n[alerts.pager]\nchannel = "7"\n'))
    service = AlertService.from_config(loaded, Store(tmp_path / "o.db"))
    assert set(service.sinks) == {"log", "pager"}
    service.enqueue_system("k", AlertKind.DIGEST, "info", "hello", {}, groups=["operators"])
    service.start()
    try:
        deadline = time.monotonic() + 10
        while not PAGERS[-1].sent and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        service.stop()
    (pager,) = PAGERS
    assert pager.channel == "7"
    assert [(a.sink, a.body) for a in pager.sent] == [("pager", "hello")]


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_daemon_shows_frames_to_a_registered_output_reloads_and_stops_it(
    tmp_path: Path, registered
) -> None:
    from safetyd.service.app import App

    assert threading.current_thread() is threading.main_thread()  # App installs signals
    camera = BASE_TOML.replace(
        'source = "rtsp://127.0.0.1:8554/cam1"',
        f'source = "{FIXTURES / "walk-in.mp4"}"\nloop = true\nfps = 10',
    )
    base = camera + "\n[http]\nenabled = false\n"
    path = write_config(tmp_path, base + '\n[board]\nlabel = "hall"\n')
    app = App(path)
    app.start()
    try:
        (first,) = Board.started
        assert _wait(lambda: len(first.views) >= 3, 30)
        view = first.views[-1]
        assert view.camera == "cam1" and [z.id for z in view.zones] == ["z1"]
        # A reload that changes its table: the old one stops, a new one is shown frames.
        path.write_text(base + '\n[board]\nlabel = "yard"\n')
        assert app.reload()
        assert first.stopped and len(Board.started) == 2
        second = Board.started[1]
        assert second.settings.label == "yard"
        assert _wait(lambda: len(second.views) >= 3, 30)
        # One that cannot start is reported to the watchdog; the cameras go on.
        path.write_text(base + '\n[board]\nlabel = "yard"\nfail_start = true\n')
        assert app.reload()
        assert second.stopped
        assert app.stalled() == [
            "output [board] cannot start: ConnectionRefusedError: the board does not answer"
        ]
        # Removing the table: nothing runs, nothing is stalled.
        path.write_text(base)
        assert app.reload()
        assert app.stalled() == [] and len(Board.started) == 2
        path.write_text(base + '\n[board]\nlabel = "hall"\n')
        assert app.reload()
        third = Board.started[2]
        assert _wait(lambda: len(third.views) >= 1, 30)
    finally:
        app.shutdown()
    assert third.stopped
