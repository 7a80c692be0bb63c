"""How fast is the course's code, and where does a GRPO step spend its time?

    python benchmarks/speed.py            # about 4 minutes on a 2-core CPU

Prints a table and writes runs/benchmarks/speed.json. Every comparison is interleaved in one
process (A, B, A, B, ...) and reported as the median with the interquartile range, because
identical runs drift by tens of percent from one process to the next on a small shared CPU:
only numbers measured side by side can be compared.

- train_tokens_per_s: a training step (forward, backward, AdamW) of the course GPT and of
  transformers' GPT2LMHeadModel at the CPU preset's shape, same weights, same batches;
- matmul_peak_gflops and mfu: what this CPU does on one large fp32 matmul, and the share of
  it the course's training reaches (6N FLOPs per trained token);
- rollout_tokens_per_s: GRPO-shaped sampling (8 prompts x 8 samples, temperature 1, no
  top-k, real end tokens) from chapter 1's base model: the course's `generate` against
  transformers' `generate` on the exported model;
- grpo_steps_per_s: R1-Zero's GRPO steps with the course sampler against the first edition's
  (benchmarks/first_edition.py: the whole batch decoded until its longest row ended, each
  prompt read once per sample), same seeds, and grpo_step_ms: where a step's time goes
  (rollouts, the log-prob forward, backward + optimizer, the rest). Both samplers write the
  same tokens (checked here on the benchmark's own batches).

The base model comes from runs/ch01/base.pt; if it is missing (or made by other settings),
chapter 1's pretraining runs first (about 5 more minutes).
"""

from __future__ import annotations

import copy
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ch01_what_is_reasoning.experiments import base_config, pretrain_base  # noqa: E402
from ch01_what_is_reasoning.hf_interop import to_hf  # noqa: E402
from ch01_what_is_reasoning.model import GPT  # noqa: E402
from ch01_what_is_reasoning.sampling import generate, left_pad  # noqa: E402
from ch01_what_is_reasoning.tokenizer import CharTokenizer  # noqa: E402
from ch02_r1_pipeline.grpo import GRPOConfig, GRPOTrainer  # noqa: E402
from ch02_r1_pipeline.rewards import ACCURACY_FORMAT  # noqa: E402
from ch02_r1_pipeline.tasks import rl_prompts  # noqa: E402
from course.runtime import get_preset, runs_dir, write_json  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_edition import generate as first_edition_generate  # noqa: E402

REPS = int(os.environ.get("SPEED_REPS", 15))


def summary(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "q1": q[0], "q3": q[2], "n": len(values)}


def interleaved(fns: dict, reps: int = REPS) -> dict[str, list[float]]:
    """Run each function `reps` times, alternating, after one warm-up each. A function returns
    the work it did (tokens, steps); the result is work per second of every call."""
    for fn in fns.values():
        fn()
    rates = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            work = fn()
            rates[name].append(work / (time.perf_counter() - start))
    return rates


def matmul_peak_gflops(n: int = 1024, reps: int = 30) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def training(model_cfg, batch: int = 16, steps: int = 5):
    """Step functions for the course GPT and GPT2LMHeadModel with the same weights."""
    torch.manual_seed(0)
    course = GPT(model_cfg).train()
    hf = to_hf(course).train()
    data = torch.randint(0, model_cfg.vocab_size, (batch, model_cfg.block_size + 1))
    x, y = data[:, :-1], data[:, 1:]

    def loop(model, logits_of):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def run():
            for _ in range(steps):
                logits = logits_of(model, x)
                loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                                         y.reshape(-1))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return batch * model_cfg.block_size * steps   # tokens trained on
        return run

    fns = {"course": loop(course, lambda m, ids: m(ids)),
           "hf": loop(hf, lambda m, ids: m(input_ids=ids).logits)}
    return fns, course.num_params()


def rollouts(base, tok, prompts_per_step: int = 8, group: int = 8, max_new: int = 110):
    """Sampling functions (course vs transformers) on GRPO-shaped batches; each returns the
    number of tokens it generated (end tokens included)."""
    hf = to_hf(base, tok).eval()
    rng = random.Random(0)
    batches = [[tok.encode(p, bos=True) for p, _ in rl_prompts(rng, prompts_per_step)
                for _ in range(group)] for _ in range(4)]
    state = {"i": 0}   # both samplers get the same prompts, batch after batch
    gen = torch.Generator().manual_seed(0)

    def course():
        prompts = batches[state["i"] % len(batches)]
        out = generate(base, prompts, max_new_tokens=max_new, eos_id=tok.eos_id, pad_id=tok.pad_id,
                       temperature=1.0, generator=gen)
        return sum(len(t) + f for t, f in zip(out.tokens, out.finished))

    @torch.no_grad()
    def transformers():
        prompts = batches[state["i"] % len(batches)]
        state["i"] += 1
        ids, mask = left_pad(prompts, tok.pad_id, "cpu")
        out = hf.generate(input_ids=ids, attention_mask=mask.long(), do_sample=True, top_k=0,
                          temperature=1.0, max_new_tokens=min(max_new, base.config.block_size - ids.shape[1]),
                          eos_token_id=tok.eos_id, pad_token_id=tok.pad_id)
        return sum(row.index(tok.eos_id) + 1 if tok.eos_id in row else len(row)
                   for row in out[:, ids.shape[1]:].tolist())

    return {"course": course, "hf": transformers}


def same_tokens(base, tok, batches: int = 8) -> float:
    """Share of GRPO-shaped rows (T=1, same seed) where both samplers write the same tokens."""
    rng, same, total = random.Random(1), 0, 0
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(batches):
        prompts = [tok.encode(p, bos=True) for p, _ in rl_prompts(rng, 8) for _ in range(8)]
        kw = dict(max_new_tokens=110, eos_id=tok.eos_id, pad_id=tok.pad_id, temperature=1.0)
        a = generate(base, prompts, generator=g1, **kw).tokens
        b = first_edition_generate(base, prompts, generator=g2, **kw).tokens
        same, total = same + sum(x == y for x, y in zip(a, b)), total + len(a)
    return same / total


class FirstEditionSampler(GRPOTrainer):
    """GRPO with the first edition's sampler (benchmarks/first_edition.py), through the hook."""

    def sample(self, prompt_ids):
        cfg, tok = self.config, self.tokenizer
        out = first_edition_generate(self.model, prompt_ids, max_new_tokens=cfg.max_new_tokens,
                                     eos_id=tok.eos_id, pad_id=tok.pad_id, temperature=cfg.temperature,
                                     generator=self.generator)
        return out.tokens, out.finished


def grpo(base, tok, steps: int = 3):
    """R1-Zero's GRPO (chapter 2's settings) with each sampler; a call runs `steps` steps."""
    cfg = GRPOConfig(reward_weights=dict(ACCURACY_FORMAT), seed=7)
    trainers = {"course": GRPOTrainer(copy.deepcopy(base).train(), tok, rl_prompts, cfg),
                "first_edition": FirstEditionSampler(copy.deepcopy(base).train(), tok, rl_prompts, cfg)}
    def run(trainer):
        trainer.train(steps, progress=False)
        return steps
    return {name: (lambda t=t: run(t)) for name, t in trainers.items()}, trainers


def main() -> dict:
    torch.manual_seed(0)
    preset, device = get_preset("cpu"), torch.device("cpu")
    tok = CharTokenizer()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {REPS} interleaved reps each")
    base, _, _ = pretrain_base(preset, device, runs_dir("ch01") / "base.pt", progress=True)
    results = {"preset": preset.name, "threads": torch.get_num_threads(), "reps": REPS}

    peak = matmul_peak_gflops()
    fns, params = training(base_config(preset, tok))
    train = interleaved(fns)
    results["train_tokens_per_s"] = {k: summary(v) for k, v in train.items()}
    results["train_speedup_vs_hf"] = summary([c / h for c, h in zip(train["course"], train["hf"])])
    results["matmul_peak_gflops"] = peak
    results["mfu"] = 6 * params * results["train_tokens_per_s"]["course"]["median"] / (peak * 1e9)

    rollout = interleaved(rollouts(base, tok))
    results["same_tokens_as_first_edition"] = same_tokens(base, tok)
    results["rollout_tokens_per_s"] = {k: summary(v) for k, v in rollout.items()}
    results["rollout_speedup_vs_hf"] = summary([c / h for c, h in zip(rollout["course"], rollout["hf"])])

    fns, trainers = grpo(base, tok)
    steps = interleaved(fns, reps=max(3, REPS // 2))
    results["grpo_steps_per_s"] = {k: summary(v) for k, v in steps.items()}
    results["grpo_speedup_vs_first_edition"] = summary(
        [a / b for a, b in zip(steps["course"], steps["first_edition"])])
    history = trainers["course"].history
    parts = {"rollouts": "rollout_seconds", "logprob": "logprob_seconds", "backward": "backward_seconds"}
    ms = {name: 1000 * statistics.median(h[key] for h in history) for name, key in parts.items()}
    ms["other"] = 1000 * statistics.median(h["seconds"] - sum(h[k] for k in parts.values())
                                           for h in history)
    ms["total"] = 1000 * statistics.median(h["seconds"] for h in history)
    results["grpo_step_ms"] = ms

    out = runs_dir("benchmarks") / "speed.json"
    write_json(out, results)
    print(table(results))
    print(f"\nwrote {out}")
    return results


def table(r: dict) -> str:
    def row(name, s, unit):
        return f"{name:<38} {s['median']:>10,.1f} {unit:<9} [{s['q1']:,.1f}-{s['q3']:,.1f}]"

    lines = [f"{'what':<38} {'median':>10} {'unit':<9} [IQR]"]
    for k in ("course", "hf"):
        lines.append(row(f"training, {k}", r["train_tokens_per_s"][k], "tokens/s"))
    lines.append(row("training, course / hf", r["train_speedup_vs_hf"], "x"))
    lines.append(f"{'fp32 matmul peak':<38} {r['matmul_peak_gflops']:>10,.1f} GFLOP/s")
    lines.append(f"{'MFU of course training (6N/token)':<38} {100 * r['mfu']:>10.1f} %")
    for k in ("course", "hf"):
        lines.append(row(f"rollouts (64 at T=1), {k}", r["rollout_tokens_per_s"][k], "tokens/s"))
    lines.append(row("rollouts, course / hf", r["rollout_speedup_vs_hf"], "x"))
    same = 100 * r["same_tokens_as_first_edition"]
    lines.append(f"{'same tokens as the first edition':<38} {same:>10.1f} % of rows")
    for k in ("course", "first_edition"):
        lines.append(row(f"R1-Zero GRPO, {k} sampler", r["grpo_steps_per_s"][k], "steps/s"))
    lines.append(row("GRPO, course / first edition", r["grpo_speedup_vs_first_edition"], "x"))
    g = r["grpo_step_ms"]
    lines.append("GRPO step (ms, median): " + ", ".join(f"{k} {v:.0f}" for k, v in g.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
