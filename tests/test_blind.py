"""System alarms as values (pure): a blind camera once per outage and once when back,
a failing store once per outage; and the health the status gives."""

from __future__ import annotations

from dataclasses import replace

from safetyd.base.alerts import AlertKind
from safetyd.service.blind import BlindCameras, CameraState, StorageWatch
from safetyd.service.status import CameraStatus, DeliveryStatus, Status, ZoneStatus
from safetyd.storage.store import StorageStatus
from safetyd.vision.sources import SourceStatus

SOURCE = SourceStatus("dock", True, 10.0, 0.1, 0.1, 0, 100, 0, 0, False, None)


def state(fresh: float | None = 0.1, armed=frozenset({"lane"}), running: float = 60) -> CameraState:
    return CameraState(
        id="dock", source=replace(SOURCE, last_fresh_age_s=fresh),
        processed_age_s=0.1, processed_fps=10.0, armed=armed, zones=("lane",),
        stale_after_s=5.0, running_s=running, danger_groups=("operators",),
    )  # fmt: skip


def test_a_blind_camera_alarms_once_and_once_more_when_it_is_back() -> None:
    blind = BlindCameras()
    assert blind.check([state()], 1000.0) == []
    (offline,) = blind.check([state(fresh=6.0)], 1001.0)
    assert offline.kind == AlertKind.CAMERA_OFFLINE and offline.level == "danger"
    assert offline.groups == ("operators",) and offline.facts["reason"] == "frozen picture"
    assert offline.facts["armed_zones"] == ["lane"]
    assert blind.check([state(fresh=9.0)], 1004.0) == []  # the same outage: said once
    (restored,) = blind.check([state()], 1031.0)
    assert restored.kind == AlertKind.CAMERA_RESTORED and restored.facts["offline_s"] == 30.0


def test_a_camera_starting_up_or_with_nothing_armed_is_not_an_alarm() -> None:
    blind = BlindCameras()
    assert blind.check([state(fresh=None, running=2.0)], 1000.0) == []  # still starting
    assert blind.check([state(fresh=None, armed=frozenset())], 1000.0) == []  # nothing armed


def test_storage_alarms_once_per_outage() -> None:
    watch = StorageWatch()
    ok = StorageStatus(True, "/s/safetyd.db", None, None, 0)
    bad = StorageStatus(False, "/s/safetyd.db", "OperationalError: disk I/O error", 500.0, 3)
    assert watch.check(ok, 400.0) == []
    (failed,) = watch.check(bad, 501.0)
    assert failed.kind == AlertKind.STORAGE_FAILED and failed.facts["error"].endswith("I/O error")
    assert watch.check(replace(bad, failures=9), 510.0) == []
    (restored,) = watch.check(replace(ok, failures=9), 560.0)
    assert restored.kind == AlertKind.STORAGE_RESTORED and restored.facts["failed_s"] == 60.0


def test_health_names_every_reason() -> None:
    cam = CameraStatus("dock", False, False, 0.0, None, 0, 0, 3, "connection refused",
                       (ZoneStatus("lane", True),), ())  # fmt: skip
    status = Status(
        site="Plant",
        cameras=(cam,),
        delivery=DeliveryStatus(0, False, ("delivery worker is not running",), ("sms",)),
        storage=StorageStatus(False, "/s/safetyd.db", "disk full", 1.0, 1),
        stalled=("scheduler stalled",),
    )
    ok, body = status.health()
    assert not ok and body["status"] == "unhealthy"
    assert body["reasons"] == [
        "camera dock: 1 armed zone(s) unwatched: connection refused",
        "storage: cannot write /s/safetyd.db: disk full",
        "alert delivery: delivery worker is not running",
        "stalled: scheduler stalled",
    ]
    healthy = replace(
        status,
        cameras=(replace(cam, up=True),),
        delivery=DeliveryStatus(0, True, (), ("sms",)),
        storage=StorageStatus(True, "/s/safetyd.db", None, None, 1),
        stalled=(),
    )
    assert healthy.health()[0]
