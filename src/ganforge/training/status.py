"""The statistics of a tick's progress and resources, and the status line the official loop prints."""

from __future__ import annotations

import os
import resource
import time

from ganforge.progress import format_time


def cpu_mem_gb() -> float:
    """This process's resident memory in GiB (peak resident memory where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def status_line(tick: int, values: dict[str, float], schedule: dict[str, float]) -> str:
    """The tick's line from its statistics (`values`, named as in stats.jsonl) and the schedule's."""
    v = values
    schedule_part = "".join(f" {name.split('/')[-1]} {value:.3f}" for name, value in schedule.items())
    return (
        f"tick {tick:<5d} kimg {v['Progress/kimg']:<8.3f} time {format_time(v['Timing/total_sec']):<12} "
        f"sec/tick {v['Timing/sec_per_tick']:<7.1f} sec/kimg {v['Timing/sec_per_kimg']:<7.2f} "
        f"maintenance {v['Timing/maintenance_sec']:<6.1f} cpumem {v['Resources/cpu_mem_gb']:<6.2f} "
        f"gpumem {v['Resources/peak_gpu_mem_gb']:<6.2f} augment {v['Progress/augment']:.3f}{schedule_part}"
    )


def tick_values(
    tick: int,
    cur_nimg: int,
    tick_start_nimg: int,
    start_time: float,
    tick_start_time: float,
    maintenance_time: float,
    augment_p: float,
    gpu_mem_gb: float,
) -> dict[str, float]:
    """The loop's own statistics at the end of a tick (official names), measured now."""
    now = time.time()
    tick_sec = now - tick_start_time
    return {
        "Progress/tick": tick,
        "Progress/kimg": cur_nimg / 1e3,
        "Timing/total_sec": now - start_time,
        "Timing/sec_per_tick": tick_sec,
        "Timing/sec_per_kimg": tick_sec / max(cur_nimg - tick_start_nimg, 1) * 1e3,
        "Timing/maintenance_sec": maintenance_time,
        "Resources/cpu_mem_gb": cpu_mem_gb(),
        "Resources/peak_gpu_mem_gb": gpu_mem_gb,
        "Progress/augment": augment_p,
        "Timing/total_hours": (now - start_time) / 3600,
        "Timing/total_days": (now - start_time) / 86400,
    }
