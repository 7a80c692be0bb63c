"""The bill: what every run of the course cost, next to what the famous runs cost.

Each run records the tokens it processed, its FLOPs (chapter 3's 6N / 2N per token), its wall
time and its device. Dollars are priced two ways, both with stated assumptions:
- `usd`: what the FLOPs would cost on a rented data-centre GPU, at GPU_PRICE_PER_HOUR for a
  GPU that sustains GPU_PEAK_FLOPS * GPU_UTILIZATION (real training reaches 30-50% of the
  peak; toy models like these reach far less, so this is a lower bound);
- `usd_wall`: the wall time actually measured, at the price of the device it ran on
  (a small cloud CPU VM or a GPU hour).
"""

from __future__ import annotations

GPU_PEAK_FLOPS = 989e12        # an H100 SXM, dense bf16 (NVIDIA's datasheet)
GPU_UTILIZATION = 0.40         # the share of the peak a well-tuned large training run sustains
GPU_PRICE_PER_HOUR = 2.0       # USD per GPU-hour, DeepSeek-V3's rental assumption
CPU_PRICE_PER_HOUR = 0.10      # USD per hour of a 2-vCPU cloud VM, about this machine
PRICE_PER_HOUR = {"cpu": CPU_PRICE_PER_HOUR, "cuda": GPU_PRICE_PER_HOUR, "mps": CPU_PRICE_PER_HOUR}

# Published costs, what the course's runs are compared with. DeepSeek-V3 technical report
# (arXiv 2412.19437): 2.788M H800 GPU-hours at $2/h for its whole training, of which pretraining
# is 2.664M (the rest: context extension and post-training). R1's own RL and data on top of V3:
# about $294K (the Nature version of the R1 paper, 2025, supplementary information). Sky-T1 and
# TinyZero: their project pages.
PUBLISHED = {
    "DeepSeek-V3 whole training (2.788M H800-hours)": 5.576e6,
    "DeepSeek-V3 pretraining alone (2.664M H800-hours)": 2.664e6 * GPU_PRICE_PER_HOUR,
    "DeepSeek-R1 on top of V3 (RL + SFT data)": 294e3,
    "Sky-T1-32B-Preview (SFT on 17K traces)": 450.0,
    "TinyZero (R1-Zero recipe, Countdown)": 30.0,
}


def gpu_hours(flops: float) -> float:
    return flops / (GPU_PEAK_FLOPS * GPU_UTILIZATION) / 3600


def usd(flops: float) -> float:
    """Dollars for `flops` on a rented GPU at the stated peak, utilisation and price."""
    return gpu_hours(flops) * GPU_PRICE_PER_HOUR


def cost_row(run: str, tokens: float, flops: float, seconds: float, device: str) -> dict:
    kind = str(device).split(":")[0]
    if kind not in PRICE_PER_HOUR:
        raise ValueError(f"no price for device {device!r}: use one of {sorted(PRICE_PER_HOUR)}")
    return {"run": run, "tokens": tokens, "flops": flops, "seconds": seconds, "device": str(device),
            "gpu_hours": gpu_hours(flops), "usd": usd(flops),
            "usd_wall": seconds / 3600 * PRICE_PER_HOUR[kind]}


def total(rows: list[dict]) -> dict:
    """The sum of some rows, as one row."""
    devices = sorted({r["device"] for r in rows})
    return {**{k: sum(r[k] for r in rows) for k in ("tokens", "flops", "seconds", "gpu_hours",
                                                     "usd", "usd_wall")},
            "run": "the whole course", "device": "+".join(devices)}
