"""From toy to real: one policy interface, so chapter 2's GRPO loop trains a Hugging Face model.

GRPOTrainer touches its model in two places only: it samples rollouts, and it calls
`model(ids)` for per-token logits. A *policy* is anything that does both:

    ToyPolicy(gpt)          the course GPT, sampled with chapter 1's KV-cache `generate`
    HFPolicy(hf_model)      any transformers causal LM, sampled with `model.generate`

PolicyGRPOTrainer is GRPOTrainer with rollouts drawn through `policy.sample`; the rewards,
advantages, clipped loss, update, logs and checkpoints are chapter 2's code, unchanged.
HFTokenizer gives a Hugging Face tokenizer the four things the loop asks of a tokenizer.
Offline, a tiny random Qwen2 model and a character-level HF tokenizer with the course's ids
exercise the real code path; `load_real_model` is the online path for a Colab GPU.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Protocol, runtime_checkable

import torch

from ch01_what_is_reasoning.sampling import generate
from ch01_what_is_reasoning.tokenizer import BOS, EOS, PAD, SPECIAL_TOKENS, CharTokenizer
from ch02_r1_pipeline.grpo import GRPOTrainer

REAL_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


@runtime_checkable
class Policy(Protocol):
    """What the GRPO loop needs from a model (torch.nn.Module provides the last three)."""

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) for token ids (B, T); rows may be right-padded."""

    def sample(self, prompt_ids: list[list[int]], *, max_new_tokens: int, temperature: float,
               eos_id: int, pad_id: int, generator: torch.Generator | None = None
               ) -> tuple[list[list[int]], list[bool]]:
        """Continue each prompt; return its new tokens (end token excluded) and whether it
        stopped on `eos_id` (True) or ran out of `max_new_tokens` (False)."""

    def parameters(self): ...

    def train(self, mode: bool = True): ...

    def eval(self): ...


class ToyPolicy(torch.nn.Module):
    """The course GPT of chapter 1 as a policy."""

    def __init__(self, gpt):
        super().__init__()
        self.gpt = gpt

    def forward(self, ids):
        return self.gpt(ids)

    def sample(self, prompt_ids, *, max_new_tokens, temperature, eos_id, pad_id, generator=None):
        out = generate(self.gpt, prompt_ids, max_new_tokens=max_new_tokens, eos_id=eos_id,
                       pad_id=pad_id, temperature=temperature, generator=generator)
        return out.tokens, out.finished


class HFPolicy(torch.nn.Module):
    """Any transformers causal LM (Qwen2, Llama, GPT-2, ...) as a policy.

    `autocast_dtype` (e.g. torch.bfloat16) runs forward and sampling in that precision while
    the weights, and so AdamW's small updates, stay in float32.
    """

    def __init__(self, model, autocast_dtype: torch.dtype | None = None):
        super().__init__()
        self.model = model
        self.autocast_dtype = autocast_dtype

    def _autocast(self, device):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)

    def forward(self, ids):
        # No attention mask: chapter 2 right-pads and reads only positions before the padding,
        # which causal attention never lets see the padding, so a plain forward is exact.
        with self._autocast(ids.device):
            return self.model(input_ids=ids).logits

    @torch.no_grad()
    def sample(self, prompt_ids, *, max_new_tokens, temperature, eos_id, pad_id, generator=None):
        if not prompt_ids or any(len(p) == 0 for p in prompt_ids):
            raise ValueError("every prompt needs at least one token")
        device = next(self.parameters()).device
        # Left padding, so every row's last prompt token sits at the same position; the mask
        # keeps the padding out of attention (and out of the positions HF derives from it).
        width = max(len(p) for p in prompt_ids)
        ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
        for i, p in enumerate(prompt_ids):
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        sampling = temperature > 0
        # GRPO's ratio assumes the rollouts come from the policy itself: switch off the top-k,
        # top-p and repetition penalty that a checkpoint's generation_config may set.
        options = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if sampling \
            else dict(do_sample=False)
        # HF samples from the global RNG: seed it from the caller's generator (so runs repeat,
        # and a resumed run continues identically), inside fork_rng so nothing else is disturbed.
        seed = None if generator is None else int(torch.randint(2**62, (1,), generator=generator))
        was_training = self.training
        self.eval()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            if seed is not None:
                torch.manual_seed(seed)
            with self._autocast(device):
                out = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                          max_new_tokens=max_new_tokens, pad_token_id=pad_id,
                                          eos_token_id=eos_id, repetition_penalty=1.0, **options)
        self.train(was_training)
        tokens, finished = [], []
        for row in out[:, width:].tolist():  # generate returns prompt + new tokens
            if eos_id in row:
                tokens.append(row[: row.index(eos_id)])
                finished.append(True)
            else:
                tokens.append(row)  # a row still running was never padded: all are real tokens
                finished.append(False)
        return tokens, finished


class HFTokenizer:
    """A Hugging Face tokenizer with the interface of the course CharTokenizer."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no end token (eos_token); GRPO needs one to stop")
        self.eos_id = tokenizer.eos_token_id
        # Many causal LMs have no pad token. The end token works: padding is never attended
        # (left, with a mask) or read (right, after the sequence).
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.bos_id = tokenizer.bos_token_id  # None for Qwen: then nothing is prepended

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        try:
            ids = self.tokenizer.encode(text, add_special_tokens=False)
        except Exception as error:  # the `tokenizers` library raises a bare Exception
            raise ValueError(f"the tokenizer cannot encode {text[:40]!r}: {error}") from error
        return ([self.bos_id] if bos and self.bos_id is not None else []) + ids + \
            ([self.eos_id] if eos else [])

    def decode(self, ids) -> str:
        # skip_special_tokens drops pad/bos/eos; the <think>/<answer> tags are ordinary text
        # (or ordinary added tokens), so the rewards still see them.
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)


# ---------------------------------------------------------------- offline: tiny but real HF parts
def char_level_hf_tokenizer():
    """A transformers tokenizer with exactly the course CharTokenizer's vocabulary and ids."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = CharTokenizer()
    core = Tokenizer(models.WordLevel(vocab=dict(chars.stoi), unk_token=None))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")  # one char, one token
    core.decoder = decoders.Fuse()  # join tokens with no spaces between them
    # Added tokens are matched before splitting, as CharTokenizer matches its tags first.
    # pad/bos/eos are special (decode skips them); the tags are not, the rewards read them.
    core.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in (PAD, BOS, EOS)])
    core.add_tokens([AddedToken(t, special=False, normalized=False)
                     for t in SPECIAL_TOKENS if t not in (PAD, BOS, EOS)])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, eos_token=EOS,
                                   pad_token=PAD, clean_up_tokenization_spaces=False)


def tiny_hf_model(vocab_size: int, seed: int = 0):
    """A randomly initialised 2-layer Qwen2 (the architecture of Qwen2.5), built offline."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=256, tie_word_embeddings=True,
                         initializer_range=0.2)  # the usual 0.02 gives near-uniform, constant output
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config).eval()


# ---------------------------------------------------------------- online: a real model on a GPU
def load_real_model(name: str = REAL_MODEL, device: str = "cuda"):
    """Download a small instruct model; returns (HFPolicy, HFTokenizer). Needs a CUDA GPU
    unless you name another device yourself."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"load_real_model({name!r}) needs a CUDA GPU: RL on a 0.5B-parameter model is far too "
            "slow on a CPU. On Colab: Runtime > Change runtime type > T4 GPU, then rerun. Without "
            "a GPU, run the same loop on HFPolicy(tiny_hf_model(...)) with char_level_hf_tokenizer().")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name)
    except OSError as error:
        raise RuntimeError(
            f"could not load {name!r} from the Hugging Face Hub or the local cache ({error}). Check "
            "the name and the internet connection, and unset HF_HUB_OFFLINE if it is set; gated "
            "models also need `huggingface-cli login`.") from error
    # float32 weights: in pure bfloat16 an update of lr ~1e-6 is below the rounding step of a
    # weight, so training would silently do nothing. Compute runs in bfloat16 via autocast on
    # GPUs that have it natively (Ampere and later); a T4 computes in float32.
    model = model.to(device=device, dtype=torch.float32).eval()
    bf16 = device.startswith("cuda") and torch.cuda.get_device_capability(device)[0] >= 8
    return HFPolicy(model, torch.bfloat16 if bf16 else None), HFTokenizer(tokenizer)


def real_model_prompt(problem_prompt: str, tokenizer=None) -> str:
    """Ask an instruct model to answer a course problem ("(3+4)*2?") in the R1 format."""
    # No digits in the instruction: the consistency reward reads the prompt's digit script.
    request = (f"Solve {problem_prompt} Think step by step inside <think></think>, then write "
               "only the final integer inside <answer></answer>.")
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # accept an HFTokenizer too
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": request}], tokenize=False,
                                             add_generation_prompt=True)
    return request + "\n"


class PolicyGRPOTrainer(GRPOTrainer):
    """Chapter 2's GRPOTrainer for any Policy: only the rollouts go through `policy.sample`."""

    def __init__(self, model, tokenizer, sample_prompts, config, rewards=None, text_stats=()):
        if not callable(getattr(model, "sample", None)):
            raise TypeError(f"{type(model).__name__} has no sample(); wrap it first: "
                            "ToyPolicy(gpt) or HFPolicy(hf_model)")
        super().__init__(model, tokenizer, sample_prompts, config, rewards, text_stats)

    def sample(self, prompt_ids):
        """The trainer's one sampling hook, drawn through the policy."""
        cfg, tok = self.config, self.tokenizer
        return self.model.sample(prompt_ids, max_new_tokens=cfg.max_new_tokens,
                                 temperature=cfg.temperature, eos_id=tok.eos_id, pad_id=tok.pad_id,
                                 generator=self.generator)
