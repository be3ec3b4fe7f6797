"""Prometheus metrics (prometheus-client), in a registry of our own.

Counters and histograms are updated where things happen (the inference
threads); values that already live elsewhere (source status, outbox depth,
delivery counters, zone arming) are read at scrape time by a collector, so
they can never drift from the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .status import Status

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.frames_processed = Counter(
            "safetyd_frames_processed",
            "Frames run through the pipeline",
            ["camera"],
            registry=self.registry,
        )
        self.frames_inferred = Counter(
            "safetyd_frames_inferred",
            "Frames on which pose inference ran (not motion-gated)",
            ["camera"],
            registry=self.registry,
        )
        self.inference_seconds = Histogram(
            "safetyd_inference_seconds",
            "Pose inference time per frame",
            ["camera"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.frame_to_alert_seconds = Histogram(
            "safetyd_frame_to_alert_seconds",
            "From frame capture to the alert committed in the outbox (stage=outbox)",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.incidents = Counter(
            "safetyd_incidents",
            "Incident transitions",
            ["camera", "zone", "event", "level"],
            registry=self.registry,
        )
        self.plant_output_seconds = Histogram(
            "safetyd_plant_output_seconds",
            "From frame capture to a changed output acknowledged by its Modbus device",
            ["device"],
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=self.registry,
        )
        self.mqtt_state_seconds = Histogram(
            "safetyd_mqtt_state_seconds",
            "From frame capture to a changed zone state acknowledged by the MQTT broker",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=self.registry,
        )
        self.time_to_acknowledge = Histogram(
            "safetyd_time_to_acknowledge_seconds",
            "From an incident's opening to its acknowledgement",
            ["via"],
            buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=self.registry,
        )
        self.pipeline_errors = Counter(
            "safetyd_pipeline_errors",
            "Frames whose processing raised an error",
            ["camera"],
            registry=self.registry,
        )

        self.warning_ttc_seconds = Histogram(
            "safetyd_warning_ttc_seconds",
            "Predicted time to contact when a warning opened (near-miss analytics); warnings "
            "of people not approaching have none and are not counted",
            ["camera", "zone"],
            buckets=(0.5, 1.0, 1.5, 2.0, 3.0, 5.0),
            registry=self.registry,
        )
        self.clips_recorded = Counter(
            "safetyd_clips_recorded",
            "Incident clips written to the end",
            ["camera"],
            registry=self.registry,
        )
        self.clip_frames_skipped = Counter(
            "safetyd_clip_frames_skipped",
            "Frames left out of clips because the clip writer was behind (never the pipeline)",
            ["camera"],
            registry=self.registry,
        )
        self.clip_failures = Counter(
            "safetyd_clip_failures",
            "Clips that could not be written (no encoder, disk full)",
            ["camera"],
            registry=self.registry,
        )
        self.clips_deleted = Counter(
            "safetyd_clips_deleted",
            "Clip files deleted: reason=age (retention_days) or quota (max_gb)",
            ["reason"],
            registry=self.registry,
        )
        self.clip_bytes = Gauge(
            "safetyd_clip_bytes", "Disk used by incident clips", registry=self.registry
        )
        self.clip_limit_bytes = Gauge(
            "safetyd_clip_limit_bytes",
            "Disk the clips may use ([clips] max_gb); the oldest go first beyond it",
            registry=self.registry,
        )
        self.people_down = Counter(
            "safetyd_people_down",
            "Falls and men down raised in areas (kind=fall|man_down)",
            ["camera", "area", "kind"],
            registry=self.registry,
        )
        self.posture_seconds = Counter(
            "safetyd_posture_seconds",
            "Seconds people in an area spent in each posture band (measure=trunk|upper_arm|"
            "knee|hands), for ergonomic review, no medical or compliance claim",
            ["camera", "area", "measure", "band"],
            registry=self.registry,
        )
        self.risky_postures = Counter(
            "safetyd_risky_postures",
            "Risky postures held for [body] hold_s (event=trunk_over_60|arm_over_90|"
            "knee_over_60|hands_above_head)",
            ["camera", "area", "event"],
            registry=self.registry,
        )
        for reason in ("age", "quota"):
            self.clips_deleted.labels(reason)

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StateCollector(Collector):
    """Reads the daemon's typed status at scrape time."""

    def __init__(self, status: Callable[[], Status]) -> None:
        self.status = status

    def describe(self) -> Iterable:
        return []

    def collect(self) -> Iterable:
        s = self.status()
        per_camera = (
            (CounterMetricFamily, "safetyd_frames_read", "Frames read from the camera",
             lambda c: c.frames_read),
            (CounterMetricFamily, "safetyd_frames_dropped",
             "Frames replaced in the one-slot buffer before use", lambda c: c.frames_dropped),
            (CounterMetricFamily, "safetyd_camera_reconnects", "Camera stream reopen attempts",
             lambda c: c.reconnects),
            (GaugeMetricFamily, "safetyd_camera_up", "1 when the camera delivers fresh frames",
             lambda c: float(c.up)),
            (GaugeMetricFamily, "safetyd_camera_frame_age_seconds",
             "Age of the newest fresh frame", lambda c: c.frame_age_s),
            (GaugeMetricFamily, "safetyd_camera_fps", "Frames per second processed",
             lambda c: c.fps),
        )  # fmt: skip
        for family, name, help_text, value in per_camera:
            metric = family(name, help_text, labels=["camera"])
            for cam in s.cameras:
                v = value(cam)
                # Every series exists from the start (NaN: not known yet), so that a
                # dashboard's alert on it cannot be silenced by its absence.
                metric.add_metric([cam.id], float("nan") if v is None else v)
            yield metric
        armed = GaugeMetricFamily(
            "safetyd_zone_armed", "1 when the zone is armed", labels=["camera", "zone"]
        )
        for cam in s.cameras:
            for zone in cam.zones:
                armed.add_metric([cam.id, zone.id], 1.0 if zone.armed else 0.0)
        yield armed
        open_incidents = GaugeMetricFamily(
            "safetyd_open_incidents", "Incidents open now", labels=["camera", "level"]
        )
        for cam in s.cameras:
            counts = {"warning": 0, "danger": 0, **cam.open_by_level}  # 0, not absent
            for level, n in counts.items():
                open_incidents.add_metric([cam.id, level], n)
        yield open_incidents

        d = s.delivery
        sent = CounterMetricFamily(
            "safetyd_alerts_sent", "Alerts accepted by a sink", labels=["sink"]
        )
        failed = CounterMetricFamily(
            "safetyd_alerts_failed", "Alerts that failed permanently or expired", labels=["sink"]
        )
        up = GaugeMetricFamily(
            "safetyd_alert_sink_up",
            "0 while a sink is broken as a whole (rejected or missing credentials)",
            labels=["sink"],
        )
        stuck = GaugeMetricFamily(
            "safetyd_alert_sends_stuck",
            "Sends past their deadline whose connection has not ended",
            labels=["sink"],
        )
        for sink in d.sinks:
            sent.add_metric([sink], d.sent.get(sink, 0))
            failed.add_metric([sink], d.failed.get(sink, 0))
            up.add_metric([sink], 0.0 if sink in d.broken else 1.0)
            stuck.add_metric([sink], d.stuck.get(sink, 0))
        yield sent
        yield failed
        yield up
        yield stuck
        yield _single(
            CounterMetricFamily, "safetyd_sms_sent", "SMS accepted by Twilio", d.sent.get("sms", 0)
        )
        yield _single(
            CounterMetricFamily,
            "safetyd_sms_failed",
            "SMS that failed permanently or expired",
            d.failed.get("sms", 0),
        )
        yield _single(
            GaugeMetricFamily,
            "safetyd_outbox_depth",
            "Alerts waiting for delivery (NaN while the outbox cannot be read)",
            d.pending if d.pending >= 0 else float("nan"),
        )
        yield _single(
            GaugeMetricFamily, "safetyd_delivery_healthy", "1 when alert delivery is healthy", d.ok
        )
        yield _single(
            GaugeMetricFamily,
            "safetyd_alerts_in_memory",
            "Alerts waiting in memory because the outbox could not be written",
            d.in_memory,
        )
        yield _single(
            GaugeMetricFamily,
            "safetyd_storage_healthy",
            "1 when the database takes writes, 0 while they fail",
            s.storage.ok,
        )
        yield _single(
            CounterMetricFamily,
            "safetyd_storage_errors",
            "Database writes that failed (full disk, I/O error, ...)",
            s.storage.failures,
        )
        yield _single(
            GaugeMetricFamily,
            "safetyd_config_reload_refused",
            "1 while the files on disk were refused at the last reload (the old config runs)",
            s.reload_refused is not None,
        )
        modbus = GaugeMetricFamily(
            "safetyd_modbus_up", "1 while the Modbus device answers", labels=["device", "kind"]
        )
        for device in s.plant:
            modbus.add_metric([device.id, device.kind], float(device.up))
        yield modbus
        yield _single(
            GaugeMetricFamily,
            "safetyd_unacknowledged_incidents",
            "Incidents waiting for an acknowledgement",
            s.unacknowledged,
        )
        yield _single(
            GaugeMetricFamily,
            "safetyd_snoozed_zones",
            "Zones whose warnings are snoozed now",
            len({z.zone for z in s.snoozes}),
        )
        yield _single(
            GaugeMetricFamily,
            "safetyd_sms_replies_up",
            "0 while SMS replies cannot be read",
            s.replies_error is None,
        )
        yield _single(GaugeMetricFamily, "safetyd_events_unrecorded",
                      "Incident events held in memory until the database takes writes again",
                      s.unrecorded_events)  # fmt: skip


def _single(family: type, name: str, help_text: str, value: float | bool):
    """A metric family with one label-less sample."""
    metric = family(name, help_text)
    metric.add_metric([], float(value))
    return metric
