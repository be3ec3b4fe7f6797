"""Issue 29 (4): the Grafana dashboard shipped in docs/grafana/ reads only metrics
that safetyd exports, scraped from the real daemon's /metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

from daemon_harness import DaemonProcess, press_camera
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "docs" / "grafana" / "safetyd-dashboard.json"
# Sample names the exposition adds to a family's name.
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _queries(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expression) for every query, rows' nested panels included."""
    out = []
    for panel in dashboard["panels"]:
        for p in [panel, *panel.get("panels", [])]:
            out += [(p["title"], t["expr"]) for t in p.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"variable {var['name']}", var["query"]["query"]))
    return out


def _family(name: str, families: set[str]) -> str | None:
    for candidate in [name] + [name.removesuffix(s) for s in SUFFIXES if name.endswith(s)]:
        if candidate in families:
            return candidate
    return None


def test_every_dashboard_query_names_a_metric_safetyd_exports(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = _queries(dashboard)
    assert len(queries) >= 20
    d = DaemonProcess(tmp_path, press_camera()).start()
    try:
        d.wait_ready()
        code, body = d.get("/metrics")
    finally:
        d.stop()
    assert code == 200
    families = {f.name for f in text_string_to_metric_families(body.decode())}
    exported = {f for f in families if f.startswith("safetyd_")}
    assert len(exported) >= 30
    unknown, unfiltered, used = [], [], set()
    for title, expr in queries:
        names = re.findall(r"\bsafetyd_[a-z0-9_]+", expr)
        if not names:
            unknown.append(f"{title}: {expr} reads no safetyd metric")
        for name in names:
            family = _family(name, exported)
            if family is None:
                unknown.append(f"{title}: {name} is not exported")
            used.add(family)
        # A site's boxes on one dashboard: every panel follows the Box menu.
        if not title.startswith("variable") and "$instance" not in expr:
            unfiltered.append(f"{title}: {expr}")
    assert not unknown, "\n".join(unknown)
    assert not unfiltered, "\n".join(unfiltered)
    # The dashboard covers what an operator must watch (nothing here is optional).
    for essential in ("safetyd_camera_up", "safetyd_open_incidents", "safetyd_delivery_healthy",
                      "safetyd_unacknowledged_incidents", "safetyd_outbox_depth",
                      "safetyd_storage_healthy", "safetyd_incidents"):  # fmt: skip
        assert essential in used, essential


def test_the_dashboard_is_one_site_of_many_boxes() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    box = variables["instance"]
    assert box["multi"] and box["includeAll"]
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    provider = (DASHBOARD.parent / "provisioning" / "dashboards" / "safetyd.yaml").read_text()
    assert "type: file" in provider and "path: /var/lib/grafana/dashboards/safetyd" in provider
