"""The fault table behind docs/RELIABILITY.md: each fault safetyd must survive, what
it does instead, and the tests that prove it. ``test_reliability.py`` checks that
the document is this table rendered and that every test named here exists.

Regenerate the document: ``.venv/bin/python tests/reliability.py > docs/RELIABILITY.md``
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    area: str
    fault: str
    behaviour: str
    tests: tuple[str, ...]  # "file.py::test_name"


FAULTS = (
    # -- storage ---------------------------------------------------------------------------
    Fault(
        "storage",
        "Disk full while running (Twilio accepts an SMS, then recording it fails)",
        "The provider's message id is kept in memory and only the bookkeeping is retried: "
        "each recipient gets one text, never a storm; one failing row is held back so the "
        "others go on; alerts that cannot be stored are sent from memory (bounded, danger "
        "never dropped); STORAGE FAILURE to the system recipients on every channel that "
        "works; /healthz 503, `safetyd_storage_healthy` 0; transitions that cannot be "
        "committed are held (bounded) and recorded once the disk takes writes; the log is "
        "rate-limited.",
        (
            "test_faults.py::test_full_disk_no_storm_alarm_alerts_from_memory_and_recovery",
            "test_faults.py::test_accepted_sms_is_never_resent_when_recording_it_fails",
            "test_faults.py::test_a_system_alert_that_cannot_be_stored_is_sent_from_memory",
            "test_faults.py::test_a_failed_commit_rolls_back_and_the_store_reports_then_recovers",
        ),
    ),
    Fault(
        "storage",
        "/healthz read while a frame's incident events are being committed (normal running)",
        "Events on their way to the database are not a fault: only those whose commit "
        "failed count as unrecorded (health 503, `safetyd_events_unrecorded`).",
        ("test_faults.py::test_events_in_their_normal_commit_are_not_reported_unrecorded",),
    ),
    Fault(
        "storage",
        "The daemon run by hand or under another supervisor (no systemd UMask=0077)",
        "It sets its own umask: the database, the audit log, the users file and the "
        "snapshots of workers are 0600 in 0700 directories, whatever umask it was started "
        "with.",
        ("test_daemon.py::test_what_the_daemon_writes_is_private_whatever_the_umask",),
    ),
    Fault(
        "storage",
        "Stop while the disk is full",
        "Alerts held in memory and transitions not recorded are named in the log as LOST; "
        "nothing is promised for the next start.",
        ("test_faults.py::test_full_disk_at_stop_says_what_is_lost_and_promises_nothing",),
    ),
    Fault(
        "storage",
        "State directory deleted (or the database replaced) while running",
        "Detected on the next write (the path no longer names the open file): storage is "
        "lost until a restart, writes fail as storage faults (alarm, alerts from memory), "
        "no connection creates an empty database beside it, pages answer 200/503 not 500, "
        "and at stop what is still pending in the lost file is delivered if it can be, "
        "else logged as LOST.",
        (
            "test_faults.py::test_a_database_file_deleted_or_replaced_while_open_is_lost_not_recreated",
            "test_faults.py::test_state_directory_deleted_while_running_alarms_and_promises_nothing",
        ),
    ),
    Fault(
        "storage",
        "Corrupt, full or read-only database at start",
        "One line naming the file, the reason and what to do; exit code 4, which the unit "
        "file does not restart (RestartPreventExitStatus=4).",
        ("test_faults.py::test_an_unusable_database_at_start_is_explained_and_not_restarted",),
    ),
    Fault(
        "storage",
        "SIGKILL with alerts pending",
        "Every pending alert is delivered after the restart, each once.",
        ("test_daemon.py::test_sigkill_with_pending_alerts_then_restart_delivers_each_once",),
    ),
    # -- the web endpoint ----------------------------------------------------------------
    Fault(
        "http",
        "Many requests (a Prometheus scrape every 15 s for days)",
        "A fixed pool of 4 threads and one database connection each: file descriptors, "
        "threads and memory stay flat (10,000 requests in docs/BENCHMARKS.md).",
        (
            "test_faults.py::test_http_requests_leave_fds_threads_and_memory_flat",
            "test_faults.py::test_store_closes_the_connections_of_threads_that_ended",
        ),
    ),
    Fault(
        "http",
        "Hundreds of slow or silent sockets",
        "They hold no thread, are closed after 10 s idle, and at most 200 are open.",
        ("test_faults.py::test_slow_sockets_hold_no_threads_and_are_closed",),
    ),
    Fault(
        "http",
        "300 sockets each sending one header byte every few seconds (never idle), from "
        "the probe's own address",
        "A request must be whole 5 s after its first byte; at most 32 connections per "
        "address and 200 in all, and at a bound the connection waiting longest for its "
        "request is closed to make room: /healthz and /metrics answer throughout "
        "(docs/BENCHMARKS.md, `http-slow`).",
        ("test_faults.py::test_dripping_sockets_do_not_keep_health_from_answering",),
    ),
    Fault(
        "console",
        "Login tries that claim a new address each time (X-Forwarded-For from 127.0.0.1)",
        "Forwarded headers are believed only from `trusted_proxies` (none by default): "
        "the per-address login limit counts the real address.",
        ("test_console.py::test_forwarded_addresses_are_believed_only_from_configured_proxies",),
    ),
    Fault(
        "console",
        "A zone save the daemon would refuse (a zone an output names renamed, an empty "
        "file); two engineers saving the same file",
        "The whole configuration is loaded with the draft before anything is written: "
        "refused with the reason, nothing on disk changes; a save names the version it "
        "started from and one from a stale version is refused (409); a reload refused "
        "after writing puts the previous file back.",
        (
            "test_editor.py::test_renaming_a_zone_an_output_names_is_refused_and_nothing_is_written",
            "test_editor.py::test_an_empty_zone_file_is_refused_and_nothing_is_written",
            "test_editor.py::test_a_save_from_a_version_no_longer_on_disk_is_refused",
            "test_editor.py::test_a_reload_refused_after_writing_puts_the_previous_file_back",
        ),
    ),
    Fault(
        "delivery",
        'An SMS reply sent before the alert it would answer (an old "OK", an "ACK" a second early)',
        "A reply acknowledges only alerts sent to that number before it (Twilio's whole-"
        "second stamp of the reply against the send): the incident stays unacknowledged, "
        "its chain goes on, and the sender is told why.",
        (
            "test_acknowledge.py::test_a_reply_sent_before_the_alert_acknowledges_nothing_and_says_why",
        ),
    ),
    Fault(
        "delivery",
        "Twilio's reply list answers 200 with a body that is not JSON, or pages on forever",
        "A bad body is a failed poll (said once in the log, `safetyd_sms_replies_up` 0), "
        "not a traceback; a poll reads at most 4 pages of 50.",
        (
            "test_acknowledge.py::test_a_reply_list_that_is_garbage_or_never_ends_costs_a_few_requests",
            "test_acknowledge.py::test_replies_that_cannot_be_read_are_said_once_and_recover",
        ),
    ),
    Fault(
        "plant",
        "A machine-state input toggled every 0.4 s; a register reading a value that is "
        "neither running nor stopped",
        "Zones disarm only after `disarm_after_s` of stopped without a break (arming is at "
        "once); an out-of-range reading or a flapping input keeps them armed, its health "
        "says why and the plant alarm follows after `alarm_after_s`.",
        (
            "test_plantio.py::test_a_machine_input_disarms_late_and_never_on_untrusted_readings",
            "test_plantio.py::test_a_flapping_or_out_of_range_input_keeps_zones_armed_and_alarms",
        ),
    ),
    Fault(
        "config",
        "A reload that removes `[mqtt]` or changes `[console]`/`[mqtt]`/`[http]` keys",
        "These are made once, at start: the reload keeps them as they were, names each "
        "changed key (`[mqtt] (removed)`, `[console] lockout_s`) as needing a restart, and "
        "nothing crashes; the broker connection stays up.",
        (
            "test_mqtt.py::test_a_reload_that_removes_or_changes_mqtt_and_console_says_so_and_keeps_running",
        ),
    ),
    Fault(
        "console",
        "`safetyd user add --config` while the daemon runs with `--state-dir`",
        "One rule for the users file (`[console] users_file`, else `users.json` in the state "
        "directory, which `--state-dir` replaces for the daemon and `safetyd user` alike); "
        "check-config and the start line name the file.",
        ("test_console.py::test_the_users_file_follows_the_state_dir_the_daemon_runs_with",),
    ),
    Fault(
        "mqtt",
        "A snooze `until` NaN, infinite or 400 digits long",
        "Refused with an answer on the reply topic (the lifecycle refuses a NaN time too); "
        "any unforeseen failure of a command is answered `ok: false` as well.",
        (
            "test_mqtt.py::test_a_snooze_until_no_time_is_answered_and_refused",
            "test_mqtt.py::test_the_lifecycle_refuses_a_snooze_until_nan",
        ),
    ),
    Fault(
        "console",
        "A snapshot id of 40 digits; a calibration body nested 60,000 deep; a CSV cell "
        "with a formula after a leading tab or CR; 20,000 other names failing to log in",
        "404, 400 and 413 instead of 500s with tracebacks; the cell is quoted out; the "
        "limiter forgets expired and unlocked entries first and never a lockout before it "
        "ends.",
        (
            "test_editor.py::test_a_huge_snapshot_id_and_a_deeply_nested_body_are_refused_not_500",
            "test_console.py::test_csv_cells_never_start_a_formula",
            "test_console.py::test_flooding_other_names_does_not_erase_a_lockout",
        ),
    ),
    Fault(
        "plant",
        "Outputs at start, before any camera has produced a frame; a camera back after an "
        "outage; the heartbeat asked about health while the daemon starts",
        "Its zones show camera_offline until the camera's first frame is assessed, never "
        "clear; the frame that shows it sees is shown at once (not at the next 1 s health "
        "check); a plant restarted by a reload keeps what the old one knew; the heartbeat "
        "is not healthy (and reads no part) until every part has started.",
        (
            "test_plantio.py::test_a_camera_not_yet_seen_is_shown_offline_and_its_first_frame_shows_at_once",
            "test_plantio.py::test_the_heartbeat_reads_no_part_before_the_daemon_has_started",
            "test_plantio.py::test_the_daemon_drives_the_tower_arms_by_machine_state_and_survives_the_device",
        ),
    ),
    Fault(
        "plant",
        "`replay --send` with a machine-state input saying the press is stopped",
        "With `--honour-schedule` the inputs are read live and arm their zones, as in the "
        "daemon; without, the replay says that armed_when is not applied.",
        ("test_plantio.py::test_replay_send_honours_machine_state_arming_or_says_it_does_not",),
    ),
    Fault(
        "mqtt",
        "A command published with the retain flag (a snooze re-applied at every reconnect)",
        "Ignored, logged as an error and cleared from the broker; commands sent now act.",
        ("test_mqtt.py::test_a_retained_command_is_ignored_and_cleared",),
    ),
    Fault(
        "http",
        '`bind = "0.0.0.0"` (live camera frames of workers without a login)',
        "Refused unless `allow_unauthenticated = true`; then check-config and the start warn.",
        (
            "test_validation_corpus.py::test_bad_config_is_explained",
            "test_validation_corpus.py::test_an_exposed_endpoint_is_allowed_only_explicitly_and_then_warned_about",
        ),
    ),
    Fault(
        "http",
        '`bind = "::1"`, a taken port, an address the machine does not have',
        "IPv6 works; each failure to listen gets the advice that fits its reason.",
        (
            "test_daemon.py::test_the_endpoint_listens_on_the_ipv6_loopback",
            "test_daemon.py::test_unusable_state_dir_and_taken_port_are_explained",
        ),
    ),
    # -- alert delivery --------------------------------------------------------------------
    Fault(
        "delivery",
        "Provider answers one byte every few seconds (defeats the per-read timeout)",
        "Sends run on their own threads, a few per sink: nobody waits behind the stalled "
        "one, which is abandoned and retried at `send_deadline_s`; the worker keeps coming "
        "round (the watchdog is fed) and /healthz names the hanging sends.",
        ("test_delivery.py::test_a_trickling_answer_holds_up_no_other_alert_and_is_retried",),
    ),
    Fault(
        "delivery",
        "Provider hangs; provider down for 60 s",
        "Timed out and retried; nothing lost.",
        (
            "test_alerts.py::test_a_hanging_twilio_times_out_and_retries",
            "test_alerts.py::test_60s_outage_then_recovery_loses_nothing",
        ),
    ),
    Fault(
        "delivery",
        "Provider back after an outage; `backoff_max_s = 300`",
        "The first success on a sink retries its waiting alerts at once; danger retries are "
        "capped by `danger_backoff_max_s` (10 s).",
        (
            "test_delivery.py::test_waiting_alerts_go_at_once_when_the_provider_delivers_again",
            "test_delivery.py::test_danger_retries_stay_tight_whatever_backoff_max_s_is",
        ),
    ),
    Fault(
        "delivery",
        "Wrong or missing Twilio credentials (401 / 20003)",
        "A fault of the channel, not of each message: rows stay queued, an alarm goes out "
        "on the other channels, Twilio is not hammered, and delivery resumes as soon as the "
        "credential changes.",
        (
            "test_delivery.py::test_a_rejected_token_keeps_the_alerts_alarms_and_retries_when_it_changes",
            "test_alerts.py::test_missing_credentials_keep_alerts_pending_and_say_why",
        ),
    ),
    Fault(
        "delivery",
        "Rate limited (429 with Retry-After)",
        "The channel pauses for the time asked.",
        (
            "test_delivery.py::test_retry_after_pauses_the_channel",
            "test_alerts.py::test_rate_limited_429_is_retried_with_backoff",
        ),
    ),
    Fault(
        "delivery",
        "Many alerts to a number that cannot be reached",
        "Each is failed once and logged; one NOT DELIVERED notice per number per 10 "
        "minutes; phone numbers are masked in every error text, notice and log line.",
        (
            "test_delivery.py::test_one_not_delivered_notice_per_number_however_many_fail",
            "test_alerts.py::test_invalid_number_is_not_retried_and_is_reported",
        ),
    ),
    Fault(
        "delivery",
        "Wall clock steps 1 h back or 7 h forward (NTP fixing a stale RTC)",
        "Seen as wall time moving unlike monotonic time; pending alerts move with it: no "
        "hour's delay, no expiry of an alert seconds old.",
        ("test_delivery.py::test_a_wall_clock_step_neither_delays_nor_expires_an_alert",),
    ),
    Fault(
        "delivery",
        "A database error between the worker's passes",
        "The worker survives and delivers once the database answers again.",
        ("test_delivery.py::test_the_worker_survives_a_database_error_between_passes",),
    ),
    Fault(
        "delivery",
        "Auth token pasted where its credential name goes",
        "Refused without repeating it; the token never appears in any output.",
        (
            "test_validation_corpus.py::test_a_pasted_secret_is_never_repeated",
            "test_alerts.py::test_the_auth_token_never_appears_in_any_output",
        ),
    ),
    # -- health ----------------------------------------------------------------------------
    Fault(
        "health",
        "Danger alerts undelivered, a wedged thread, a full disk",
        "/healthz is 503 with the reasons: a danger alert waiting over 30 s, any part that "
        "stopped making progress (the watchdog's view), storage that cannot be written.",
        (
            "test_delivery.py::test_danger_waiting_longer_than_30s_makes_delivery_unhealthy",
            "test_daemon.py::test_watchdog_is_starved_when_a_pipeline_thread_wedges",
            "test_faults.py::test_full_disk_no_storm_alarm_alerts_from_memory_and_recovery",
        ),
    ),
    Fault(
        "health",
        "A camera silent, frozen or unreachable",
        "CAMERA OFFLINE to maintenance and the zone's recipients within `stale_after_s`; "
        "CAMERA RESTORED when it is back.",
        (
            "test_daemon.py::test_blind_camera_raises_an_alarm_and_healthz_follows",
            "test_daemon.py::test_frozen_stream_is_a_blind_camera",
            "test_sources.py::test_hanging_stream_is_reopened",
        ),
    ),
    Fault(
        "health",
        "A scheduled job fails",
        "Logged with its real traceback; the job runs again at its next time.",
        ("test_housekeeping.py::test_scheduler_jobs_coalesce_and_failures_are_logged",),
    ),
    # -- zone files --------------------------------------------------------------------------
    Fault(
        "zones",
        "A zone file holding `null` (or an array, a string)",
        "An error naming what the top level is; a reload is refused and the guard stays. An "
        "empty FeatureCollection is a warning saying the cameras watch nothing from it.",
        (
            "test_validation_corpus.py::test_bad_zone_file_is_explained",
            "test_daemon.py::test_a_poisoned_zone_file_on_reload_is_refused_and_the_guard_stays",
        ),
    ),
    Fault(
        "zones",
        "5,000 levels of nesting, a 400-digit coordinate, any other content",
        "Each is explained as a problem of the file; nothing raises past the loader, and a "
        "reload keeps the old configuration whatever happens. A seeded fuzz test (2,200 "
        "zone-file and 600 configuration mutations) runs in CI.",
        (
            "test_zone_fuzz.py::test_no_zone_file_content_raises",
            "test_zone_fuzz.py::test_no_configuration_content_raises",
            "test_validation_corpus.py::test_bad_zone_file_is_explained",
            "test_daemon.py::test_a_poisoned_zone_file_on_reload_is_refused_and_the_guard_stays",
        ),
    ),
    Fault(
        "zones",
        "`zones render` on a frame of another size; `zones check` of a file no camera lists "
        "with a zone wholly outside its picture",
        "Render fits zones as the daemon does (scaled when the file declares `image_size`, "
        "refused when the camera is configured for another size, a warning when nothing "
        "says); check bounds an unlisted file by its own `image_size`; `safetyd snapshot` "
        "grabs the camera's frame at its size to draw on.",
        (
            "test_foundation.py::test_zones_render_refuses_or_scales_a_picture_of_another_size",
            "test_foundation.py::test_zones_check_bounds_an_unlisted_file_by_its_image_size",
            "test_foundation.py::test_snapshot_writes_the_cameras_frame_at_its_size",
        ),
    ),
    Fault(
        "zones",
        "A broken zone file on reload",
        "Refused with the check-config explanation; the old zones stay armed and alert.",
        ("test_daemon.py::test_broken_zone_file_on_reload_keeps_the_old_zones_armed",),
    ),
)


def render() -> str:
    lines = [
        "# Reliability: the faults safetyd survives",
        "",
        "Each row is a fault we inflicted on a running safetyd (most in an attack of 54 "
        "attempts, all on loopback), what safetyd does instead of failing, and the tests "
        "that prove it; they run in CI (`.ci/run`). This file is generated from "
        "`tests/reliability.py`, and `tests/test_reliability.py` fails when they differ or "
        "a test named here does not exist.",
        "",
        "| area | fault | what safetyd does | proven by |",
        "|---|---|---|---|",
    ]
    for f in FAULTS:
        tests = "<br>".join(f"`{t}`" for t in f.tests)
        lines.append(f"| {f.area} | {f.fault} | {f.behaviour} | {tests} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
