"""Printing and saving benchmark results."""
from __future__ import annotations

import json
import platform
import os
import sys


def machine() -> dict:
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "system": platform.system(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "processor": _cpu_name()}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_value(v) -> str:
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}"
    return str(v)


def print_table(results: list[dict], file=sys.stdout) -> None:
    """One table: suite, metric, value."""
    rows = [(r["suite"], k, format_value(v)) for r in results for k, v in r["metrics"].items()]
    if not rows:
        return
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    print(f"{'suite':<{w1}}  {'metric':<{w2}}  value", file=file)
    print(f"{'-' * w1}  {'-' * w2}  {'-' * 12}", file=file)
    for suite, key, val in rows:
        print(f"{suite:<{w1}}  {key:<{w2}}  {val:>12}", file=file)


def save_json(path: str, results: list[dict]) -> None:
    doc = {"machine": machine(), "results": results}
    if len(results) == 1:
        doc.update(results[0])  # `--json` of one suite: {"suite": ..., "metrics": {...}} at the top
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
