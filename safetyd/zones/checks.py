"""The checks of a zone's properties against the configuration and the file, read
from the raw properties so that they still run (and report) when another property
of the same zone is invalid: the cameras, recipient groups and machine inputs it
names, which settings belong to a hazard zone and which to an area, body parts a
floor zone can check, and the old one-step escalation."""

from __future__ import annotations

import json

from ..base import bodyparts
from ..base.problems import suggest
from .model import AREA_ONLY, HAZARD_ONLY, FileOptions, ZoneContext, ZoneProperties


def _known_groups(groups: object, context: ZoneContext, where: str, add) -> bool:
    """Report the names in a (raw) group list that [alerts.groups] does not define."""
    ok = True
    if context.groups is None or not isinstance(groups, list):
        return ok
    for group in groups:
        if isinstance(group, str) and group not in context.groups:
            add(
                where,
                f"unknown recipient group {group!r}{suggest(group, context.groups)}; "
                f"groups in [alerts.groups]: {', '.join(sorted(context.groups)) or 'none'}",
            )
            ok = False
    return ok


def _check_kind(raw: dict, where: str, add) -> bool:
    """Hazard zones and areas take different settings; say which key is whose."""
    if raw.get("kind", "hazard") == "area":
        wrong = [k for k in HAZARD_ONLY if k in raw]
        for key in wrong:
            add(f"{where}.{key}", "a hazard zone's setting; an area (kind 'area') has no "
                "distances: remove it")  # fmt: skip
        return not wrong
    if raw.get("kind", "hazard") != "hazard":
        return False  # the properties' check says what kinds there are
    ok = True
    if "warn_distance" not in raw:
        add(f"{where}.warn_distance", "required key is missing: distance from the zone that "
            "warns, in the file's units (or \"kind\": \"area\" for an area watched for falls "
            "and posture)")  # fmt: skip
        ok = False
    for key in (k for k in AREA_ONLY if k in raw):
        add(f"{where}.{key}", 'an area\'s setting; add "kind": "area" or remove it')
        ok = False
    return ok


def check_context(
    raw: dict,
    props: ZoneProperties | None,
    options: FileOptions,
    context: ZoneContext,
    where: str,
    add,
) -> bool:
    """Checks against the configuration; they read the raw properties so that they
    still run (and report) when another property of the same zone is invalid."""
    ok = _check_kind(raw, where, add)
    camera = raw.get("camera")
    if context.cameras is not None and isinstance(camera, str) and camera not in context.cameras:
        add(
            f"{where}.camera",
            f"unknown camera {camera!r}{suggest(camera, context.cameras)}; "
            f"cameras in the configuration: {', '.join(sorted(context.cameras))}",
        )
        ok = False
    recipients = raw.get("recipients")
    if isinstance(recipients, dict):
        for level, groups in recipients.items():
            ok &= _known_groups(groups, context, f"{where}.recipients.{level}", add)
    chain = raw.get("escalation_chain")
    if isinstance(chain, list):
        for i, step in enumerate(chain):
            groups = step.get("groups") if isinstance(step, dict) else None
            ok &= _known_groups(groups, context, f"{where}.escalation_chain[{i}].groups", add)
    armed_when = raw.get("armed_when")
    inputs = context.inputs
    if inputs is not None and isinstance(armed_when, str) and armed_when not in inputs:
        known = ", ".join(sorted(inputs)) or "none: add an [[inputs.modbus]]"
        add(
            f"{where}.armed_when",
            f"unknown machine input {armed_when!r}{suggest(armed_when, inputs)}; "
            f"inputs in [[inputs.modbus]]: {known}",
        )
        ok = False
    parts = raw.get("body_parts")
    if options.units == "metres" and isinstance(parts, list):
        non_feet = [
            p
            for p in parts
            if isinstance(p, str)  # other kinds are reported by the properties' check
            and p != "feet"
            and bodyparts.INDEX.get(p) not in bodyparts.FOOT_LANDMARKS
        ]
        if non_feet:
            add(
                f"{where}.body_parts",
                f"{non_feet[0]!r} cannot be checked in a floor-plane (metres) zone: only feet "
                "touch the floor, so only feet map to floor positions; use body_parts ['feet'] "
                "or draw this zone in pixels",
            )
            ok = False
    if props is not None and props.recipients.escalation:
        after = props.escalate_after_s or context.escalate_after_s or 30.0
        after = int(after) if float(after).is_integer() else after  # 45, not 45.0
        chain = json.dumps([{"after_s": after, "groups": props.recipients.escalation}])
        add(
            f"{where}.recipients.escalation",
            "the old one-step escalation; it keeps working (and acknowledging now stops it). "
            f'Its chain form, which can add steps: "escalation_chain": {chain} in place of '
            "recipients.escalation (and escalate_after_s)",
            "warning",
        )
    if (
        props is not None
        and props.kind == "area"
        and not (props.recipients.danger or props.escalation_chain)
    ):
        add(
            f"{where}.recipients.danger",
            "no danger recipients: this area's falls and men down are only logged and shown",
            "warning",
        )
    elif props is not None and not props.recipients.all_groups():
        add(
            f"{where}.recipients",
            "no recipient groups: this zone's alerts are only logged",
            "warning",
        )
    return ok
