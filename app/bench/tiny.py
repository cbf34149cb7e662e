"""The bench's tiny model: a StableDiffusionXLPipeline of the real diffusers classes with
random weights, for `bench generate` on machines without real weights, and the pieces the
tests' other tiny pipelines share with it (seeding, the CLIP text encoder, a character-level
tokenizer). The tests' other tiny models are built in tests/tiny_builders.py.

Shapes follow the dummy components of diffusers' own fast tests; tokenizers are built
locally with the `tokenizers` library (character level), so nothing is ever downloaded.
Everything here imports torch. Bench support: the product never imports it
(tests/test_rooms.py).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_SPECIAL = ("<pad>", "<unk>", "<s>", "</s>")


def seeded(make: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`make(*args, **kwargs)` with torch's generator at seed 0, so that every tiny component
    gets the same random weights on each build."""
    import torch

    torch.manual_seed(0)
    return make(*args, **kwargs)


def char_tokenizer(model_max_length: int = 77, chat: bool = False, markers: bool = False) -> Any:
    """A character-level `PreTrainedTokenizerFast` (every printable ASCII char is a token);
    `chat` gives it a plain chat template (the message contents in a row) for pipelines that
    format their prompt as a chat (Z-Image); `markers` puts begin and end tokens around every
    text, as CLIP's tokenizer does (compel, which weights prompts, relies on them)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(_SPECIAL)}
    for ch in string.printable:
        if ch not in vocab and not ch.isspace():
            vocab[ch] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), "isolated")]
    )
    if markers:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])]
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        model_max_length=model_max_length,
    )
    if chat:
        fast.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    return fast


def tiny_sdxl(seed: int = 0) -> Any:
    """A StableDiffusionXLPipeline with random weights (a few MB; works at 32x32); `seed`
    draws the UNet's weights (another seed: another model of the same shapes)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(2, 4),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,
        norm_num_groups=1,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        steps_offset=1,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
    )
    vae = seeded(
        AutoencoderKL,
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=128,
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=tiny_clip(CLIPTextModel),
        text_encoder_2=tiny_clip(CLIPTextModelWithProjection),
        tokenizer=char_tokenizer(markers=True),
        tokenizer_2=char_tokenizer(markers=True),
        unet=unet,
        scheduler=scheduler,
    )


def _tiny_clip_config() -> Any:
    """The CLIP text encoder config of the tiny pipelines (32 wide, 5 layers)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        vocab_size=1000,
        hidden_act="gelu",
        projection_dim=32,
    )


def tiny_clip(cls: Any) -> Any:
    """A tiny CLIP text encoder of class `cls` (with or without projection)."""
    return seeded(cls, _tiny_clip_config())


def save_pretrained(folder: Path, *parts: Any) -> Path:
    """Save each of `parts` (a pipeline, a model, an image processor) in `folder` with its
    `save_pretrained` (diffusers / transformers layout), without progress bars. Returns the
    folder."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for part in parts:
        part.save_pretrained(folder)
    return folder


def save_tiny_sdxl(folder: Path) -> Path:
    """Build the tiny SDXL and save it in `folder` (diffusers layout). Returns the folder."""
    return save_pretrained(folder, tiny_sdxl())
