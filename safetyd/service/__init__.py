"""The daemon around the per-frame core: lifecycle, cameras, reload, blind-camera
alarms, status, HTTP, metrics, timed jobs."""
