"""What every benchmark prints beside its figures: the CPU features that decide its speed and
the load average, so a figure from a busy or a differently built machine says so.

Imported by the scripts beside it (``python benchmarks/<name>.py`` puts this folder on the path).
"""

from __future__ import annotations

import os
import re
import subprocess

# AVX-512 and its bf16/VNNI extensions or AMX decide whether bf16 and int8 run natively here.
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16")


def cpu_flags() -> str:
    """The CPU's speed-deciding flags from ``lscpu``, space-separated ("none" when it has none)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "lscpu not available"
    found = set(re.findall(r"\b(" + "|".join(FLAGS) + r")\b", text))
    return " ".join(f for f in FLAGS if f in found) or "none"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    """One line: flags (saying when there is no AVX-512), cores and load average."""
    flags = cpu_flags()
    no_avx512 = "" if "avx512f" in flags else " (no avx512f = no AVX-512)"
    return f"CPU flags: {flags}{no_avx512}; {os.cpu_count()} cores; load average {load_average()}"
