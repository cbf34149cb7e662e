"""A1111/ComfyUI prompt weights: `(word:1.2)`, `(word)`, `[word]`, `BREAK`.

Parsing is ours (`parse_weighted`, pure Python): compel, the maintained library that turns
weighted fragments into text-encoder conditioning, has its own syntax (`(word)1.2`) and no
A1111 reader, and translating A1111 text into compel text loses characters (compel re-reads
brackets inside quotes). So the parsed fragments are handed to compel as its own prompt
objects, and compel computes the embeddings: per fragment weight, and one chunk of text
encoder context per `BREAK` part (compel's conjunction, concatenated along the tokens).

Families that can weight: those with CLIP text encoders that compel drives (Stable
Diffusion 1.x/2.x and SDXL). Others (FLUX, Chroma, SD3, Qwen-Image, Z-Image, Wan, LTX...)
get a clear refusal from `weighting_problem` before anything renders, rather than the
brackets passed into their prompt as text.
"""

from __future__ import annotations

import re
from typing import Any

ROUND_UP = 1.1  # A1111: (word) multiplies by 1.1, [word] divides by it
_TOKEN = re.compile(
    r"\\[\\()\[\]]|\(|\[|:\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)|\)|\]|\bBREAK\b|[^\\()\[\]:B]+|B|:|\\"
)

Fragments = list[tuple[str, float]]


def parse_weighted(text: str) -> list[Fragments]:
    """The (text, weight) fragments of an A1111-style prompt, one list per BREAK part.

    `(a)` = a at 1.1, `((a))` = 1.21, `[a]` = 1/1.1, `(a:1.3)` = 1.3 (nested groups
    multiply), `\\(` is a literal bracket; brackets left open at the end apply to the rest,
    unmatched closing ones are kept as text. Adjacent fragments of one weight are merged.
    """
    parts: list[Fragments] = [[]]
    round_open: list[int] = []
    square_open: list[int] = []
    frags: list[list[Any]] = []  # [text, weight] of the current part

    def close(stack: list[int], factor: float) -> None:
        start = stack.pop()
        for frag in frags[start:]:
            frag[1] *= factor

    for match in _TOKEN.finditer(text):
        tok = match.group(0)
        if tok.startswith("\\") and len(tok) == 2:
            frags.append([tok[1], 1.0])
        elif tok == "(":
            round_open.append(len(frags))
        elif tok == "[":
            square_open.append(len(frags))
        elif match.group(1) is not None and round_open:
            close(round_open, float(match.group(1)))
        elif tok == ")" and round_open:
            close(round_open, ROUND_UP)
        elif tok == "]" and square_open:
            close(square_open, 1.0 / ROUND_UP)
        elif tok == "BREAK":
            while round_open:
                close(round_open, ROUND_UP)
            while square_open:
                close(square_open, 1.0 / ROUND_UP)
            parts[-1] = _merge(frags)
            parts.append([])
            frags = []
        else:
            frags.append([tok, 1.0])
    while round_open:
        close(round_open, ROUND_UP)
    while square_open:
        close(square_open, 1.0 / ROUND_UP)
    parts[-1] = _merge(frags)
    return [p for p in parts if any(t.strip() for t, _ in p)] or [[("", 1.0)]]


def _merge(frags: list[list[Any]]) -> Fragments:
    out: Fragments = []
    for text, weight in frags:
        if out and abs(out[-1][1] - weight) < 1e-9:
            out[-1] = (out[-1][0] + text, weight)
        else:
            out.append((text, float(weight)))
    return [(t, w) for t, w in out if t]


def has_weights(text: str) -> bool:
    """True when `text` uses weighting syntax (anything that would change its conditioning)."""
    parts = parse_weighted(text)
    return len(parts) > 1 or any(abs(w - 1.0) > 1e-9 for part in parts for _, w in part)


def plain_text(text: str) -> str:
    """`text` without its weighting syntax (what the tokens would read)."""
    return " ".join(
        " ".join("".join(t for t, _ in part).split()) for part in parse_weighted(text)
    ).strip()


def weighting_family(pipeline_class: str) -> str | None:
    """'sdxl' or 'sd' for pipeline classes whose prompts can be weighted, else None."""
    if pipeline_class.startswith("StableDiffusionXL"):
        return "sdxl"
    if re.fullmatch(r"StableDiffusion(Img2Img|Inpaint)?Pipeline", pipeline_class):
        return "sd"
    return None


def weighting_problem(prompt: str, negative: str, pipeline_class: str | None) -> str | None:
    """The refusal for a weighted prompt on a family that cannot weight, else None."""
    if pipeline_class is None or weighting_family(pipeline_class) is not None:
        return None
    which = [n for n, t in (("prompt", prompt), ("negative_prompt", negative)) if has_weights(t)]
    if not which:
        return None
    return (
        f"generate.{which[0]} uses A1111 weights or BREAK, which {pipeline_class} cannot "
        "apply (prompt weighting works for the CLIP-based Stable Diffusion 1.x/2.x and SDXL "
        "families); write it without (word:1.2), [word] and BREAK for this model"
    )


def _conjunction(text: str) -> Any:
    from compel.prompt_parser import Conjunction, FlattenedPrompt, Fragment

    prompts = [
        FlattenedPrompt([Fragment(t.strip(), w) for t, w in part if t.strip()] or [Fragment("")])
        for part in parse_weighted(text)
    ]
    return Conjunction(prompts)


def _compel_class() -> Any:
    from compel import Compel

    class A1111Compel(Compel):  # type: ignore[misc]
        """compel fed with our parse of the A1111 text (its own syntax is not read)."""

        def parse_prompt_string(self, prompt_string: str) -> Any:  # type: ignore[override]
            return _conjunction(self.pending.get(prompt_string, prompt_string))

    return A1111Compel


class WeightedEncoder:
    """Encodes weighted prompts for one pipeline through compel (torch imported inside)."""

    def __init__(self, pipe: Any, device: Any = None) -> None:
        from compel import ReturnedEmbeddingsType

        family = weighting_family(type(pipe).__name__)
        if family is None:
            raise ValueError(f"{type(pipe).__name__} cannot weight prompts")
        self.family = family
        cls = _compel_class()
        if family == "sd":
            self.encoders = [
                cls(pipe.tokenizer, pipe.text_encoder, truncate_long_prompts=False, device=device)
            ]
        else:
            hidden = ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED
            self.encoders = [
                cls(
                    pipe.tokenizer,
                    pipe.text_encoder,
                    returned_embeddings_type=hidden,
                    truncate_long_prompts=False,
                    device=device,
                ),
                cls(
                    pipe.tokenizer_2,
                    pipe.text_encoder_2,
                    returned_embeddings_type=hidden,
                    truncate_long_prompts=False,
                    requires_pooled=True,
                    device=device,
                ),
            ]
        for enc in self.encoders:
            enc.pending = {}
        config = getattr(pipe, "config", {})
        self.zero_empty_negative = bool(getattr(config, "force_zeros_for_empty_prompt", False))

    def _encode(self, enc: Any, text: str) -> Any:
        # compel takes the pooled embedding from the text it is given: give it the plain
        # words, and our parse of the weighted text through `pending`.
        key = plain_text(text)
        enc.pending = {key: text}
        try:
            return enc([key])
        finally:
            enc.pending = {}

    def encode(self, prompt: str, negative: str = "") -> dict[str, Any]:
        """Pipeline keyword arguments (`prompt_embeds`, `negative_prompt_embeds` and, for
        SDXL, the pooled ones) for `prompt` and `negative`."""
        import torch

        with torch.no_grad():
            embeds = self._encode_all(prompt, negative)
        if not negative and self.zero_empty_negative:
            # What diffusers does for SDXL (`force_zeros_for_empty_prompt`).
            for key in ("negative_prompt_embeds", "negative_pooled_prompt_embeds"):
                if key in embeds:
                    embeds[key] = torch.zeros_like(embeds[key])
        return embeds

    def _encode_all(self, prompt: str, negative: str) -> dict[str, Any]:
        import torch

        if self.family == "sd":
            enc = self.encoders[0]
            pos, neg = self._encode(enc, prompt), self._encode(enc, negative)
            pos, neg = enc.pad_conditioning_tensors_to_same_length([pos, neg])
            return {"prompt_embeds": pos, "negative_prompt_embeds": neg}
        first, second = self.encoders
        pos_1, neg_1 = self._encode(first, prompt), self._encode(first, negative)
        (pos_2, pooled), (neg_2, neg_pooled) = (
            self._encode(second, prompt),
            self._encode(second, negative),
        )
        pos_1, neg_1 = first.pad_conditioning_tensors_to_same_length([pos_1, neg_1])
        pos_2, neg_2 = second.pad_conditioning_tensors_to_same_length([pos_2, neg_2])
        pos_1, pos_2 = _same_length(first, second, pos_1, pos_2)
        neg_1, neg_2 = _same_length(first, second, neg_1, neg_2)
        return {
            "prompt_embeds": torch.cat([pos_1, pos_2], dim=-1),
            "negative_prompt_embeds": torch.cat([neg_1, neg_2], dim=-1),
            "pooled_prompt_embeds": pooled,
            "negative_pooled_prompt_embeds": neg_pooled,
        }


def _same_length(first: Any, second: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """Pad the shorter of two encoders' outputs with its own empty-prompt chunks."""
    import torch

    while a.shape[1] < b.shape[1]:
        a = torch.cat([a, first([""])[:, : b.shape[1] - a.shape[1]]], dim=1)
    while b.shape[1] < a.shape[1]:
        b = torch.cat([b, second([""])[0][:, : a.shape[1] - b.shape[1]]], dim=1)
    return a, b
