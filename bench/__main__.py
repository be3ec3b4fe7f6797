"""Run the benchmarks and write docs/BENCHMARKS.md (and docs/benchmarks.json).

.venv/bin/python -m bench                      # all of them (about 45 minutes)
.venv/bin/python -m bench --only zones,gating  # some
.venv/bin/python -m bench --quick              # a short smoke run of everything
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ORDER, ROOT, load, machine, markdown, record, save  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(ORDER)}")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--soak-minutes", type=float, default=30.0)
    parser.add_argument("--latency-seconds", type=float, default=180.0)
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs",
        help="directory for BENCHMARKS.md and benchmarks.json",
    )
    args = parser.parse_args()
    chosen = ORDER if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in chosen if n not in ORDER]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {ORDER}")

    import body
    import cameras
    import clips
    import down
    import gating
    import latency
    import mixed
    import mqtt
    import overhead
    import perception
    import plantio
    import precision
    import soak
    import webserver

    import zones

    runners = {
        "overhead": lambda: overhead.run(args.quick),
        "latency": lambda: latency.run(args.quick, args.latency_seconds),
        "zones": lambda: zones.run(args.quick),
        "gating": lambda: gating.run(args.quick),
        "cameras": lambda: cameras.run(args.quick),
        "soak": lambda: soak.run(args.quick, args.soak_minutes),
        "mixed-soak": lambda: mixed.run(args.quick, args.soak_minutes),
        "http": lambda: webserver.run(args.quick),
        "http-slow": lambda: webserver.drip(args.quick),
        "perception": lambda: perception.run(args.quick),
        "crowd": lambda: perception.crowd(args.quick),
        "regions-cost": lambda: perception.cost(args.quick),
        "phantoms": lambda: perception.phantoms(args.quick),
        "trap": lambda: precision.trap_row(args.quick),
        "lead": lambda: precision.lead_row(args.quick),
        "plantio": lambda: plantio.run(args.quick),
        "mqtt-latency": lambda: mqtt.latency(args.quick),
        "mqtt-throughput": lambda: mqtt.throughput(args.quick),
        "mqtt-fleet": lambda: mqtt.fleet(args.quick),
        "clips": lambda: clips.run(args.quick),
        "down": lambda: down.run(args.quick),
        "body-cost": lambda: body.run(args.quick),
        "posture-angles": lambda: body.angles(args.quick),
    }
    json_path = args.out / "benchmarks.json"
    report = load(json_path)
    mach = machine()
    for name in chosen:
        result = runners[name]()
        record(report, result, mach)
        save(json_path, report)
        (args.out / "BENCHMARKS.md").write_text(markdown(report))
        print(
            f"{result.title}: {result.measured} "
            f"[{ {True: 'met', False: 'MISSED', None: 'reported'}[result.passed] }]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
