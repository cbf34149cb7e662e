"""Test helper: the tiny random-weight pipelines of the real diffusers classes besides
the bench's tiny SDXL (app/bench/tiny.py, which this module builds on): SD3, FLUX, FLUX
Kontext, Chroma, Z-Image, Qwen-Image, Wan 2.2 and LTX image-to-video, Depth Anything, the
SDXL refiner and the full-size variants; a tiny ESRGAN; the tiny SDXL as one
original-layout (LDM) checkpoint file. tests/tiny_models.py saves them and registers them
in a models.yaml.

Shapes follow the dummy components of diffusers' own fast tests; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.bench.tiny import char_tokenizer, save_pretrained, seeded, tiny_clip, tiny_sdxl

# The transformer blocks of the FLUX-like tiny pipelines (FLUX, Chroma).
_FLUX_BLOCKS: dict[str, Any] = {
    "patch_size": 1,
    "in_channels": 4,
    "num_layers": 1,
    "num_single_layers": 1,
    "attention_head_dim": 16,
    "num_attention_heads": 2,
    "joint_attention_dim": 32,
    "axes_dims_rope": [4, 4, 8],
}
# The latent scaling of FLUX's VAE (and its no-quant-conv layout), kept by the tiny ones.
_FLUX_VAE: dict[str, Any] = {
    "use_quant_conv": False,
    "use_post_quant_conv": False,
    "shift_factor": 0.0609,
    "scaling_factor": 1.5035,
}


def tiny_sdxl_refiner() -> Any:
    """An SDXL-refiner-style StableDiffusionXLImg2ImgPipeline (its own UNet weights, the
    tiny SDXL's encoders and VAE), registered as another model's `refiner:` in tests."""
    from diffusers import StableDiffusionXLImg2ImgPipeline

    return StableDiffusionXLImg2ImgPipeline(**tiny_sdxl(seed=1).components)


def _tiny_t5(umt5: bool = False) -> Any:
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config = (UMT5Config if umt5 else T5Config)(
        vocab_size=1000,
        d_model=32,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=3,
        decoder_start_token_id=0,
    )
    return seeded(UMT5EncoderModel if umt5 else T5EncoderModel, config).eval()


def tiny_flux() -> Any:
    """A FluxPipeline with random weights (works at 16x16 or 32x32)."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextModel

    transformer = seeded(FluxTransformer2DModel, **_FLUX_BLOCKS, pooled_projection_dim=32)
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=tiny_clip(CLIPTextModel),
        text_encoder_2=_tiny_t5(),
        tokenizer=char_tokenizer(77),
        tokenizer_2=char_tokenizer(512),
        transformer=transformer,
        vae=_tiny_flux_vae(),
    )


def _tiny_flux_vae(latent_channels: int = 1) -> Any:
    """The one-block AutoencoderKL (no downscale) of the FLUX-like tiny pipelines (one
    latent channel; SD3's has 4)."""
    from diffusers import AutoencoderKL

    return seeded(
        AutoencoderKL,
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=1,
        **_FLUX_VAE,
    )


def tiny_chroma() -> Any:
    """A ChromaPipeline (Chroma1-HD's class) with random weights; works at 16x16 or 32x32."""
    from diffusers import ChromaPipeline, ChromaTransformer2DModel, FlowMatchEulerDiscreteScheduler

    transformer = seeded(
        ChromaTransformer2DModel,
        **_FLUX_BLOCKS,
        approximator_hidden_dim=32,
        approximator_layers=1,
        approximator_num_channels=16,
    )
    return ChromaPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=_tiny_t5(),
        tokenizer=char_tokenizer(512),
        transformer=transformer,
        vae=_tiny_flux_vae(),
        image_encoder=None,
        feature_extractor=None,
    )


def tiny_sd3() -> Any:
    """A StableDiffusion3Pipeline (two CLIP encoders and a T5) with random weights; works at
    32x32."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextModelWithProjection

    transformer = seeded(
        SD3Transformer2DModel,
        sample_size=32,
        patch_size=1,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=32,
        pooled_projection_dim=64,
        out_channels=4,
    )
    return StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=tiny_clip(CLIPTextModelWithProjection),
        text_encoder_2=tiny_clip(CLIPTextModelWithProjection),
        text_encoder_3=_tiny_t5(),
        tokenizer=char_tokenizer(77),
        tokenizer_2=char_tokenizer(77),
        tokenizer_3=char_tokenizer(256),
        transformer=transformer,
        vae=_tiny_flux_vae(latent_channels=4),
    )


def tiny_zimage() -> Any:
    """A ZImagePipeline (Z-Image Turbo's class: Qwen3 text encoder) with random weights;
    works at 32x32."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        ZImagePipeline,
        ZImageTransformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3Model

    transformer = seeded(
        ZImageTransformer2DModel,
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=16,
        dim=32,
        n_layers=2,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        norm_eps=1e-5,
        qk_norm=True,
        cap_feat_dim=16,
        rope_theta=256.0,
        t_scale=1000.0,
        axes_dims=[8, 4, 4],
        axes_lens=[256, 32, 32],
    )
    with torch.no_grad():  # made with torch.empty: fixed so that no NaN comes out
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token.data))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token.data))
    vae = seeded(
        AutoencoderKL,
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        block_out_channels=[32, 64],
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=32,
        sample_size=32,
        scaling_factor=0.3611,
        shift_factor=0.1159,
    )
    text_encoder = seeded(
        Qwen3Model,
        Qwen3Config(
            hidden_size=16,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            vocab_size=1000,
            max_position_embeddings=512,
        ),
    ).eval()
    return ZImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=char_tokenizer(512, chat=True),
        transformer=transformer,
    )


def tiny_qwen_image() -> Any:
    """A QwenImagePipeline (Qwen2.5-VL text encoder, Wan-style VAE) with random weights;
    works at 32x32."""
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    transformer = seeded(
        QwenImageTransformer2DModel,
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    vae = seeded(
        AutoencoderKLQwenImage,
        base_dim=24,
        z_dim=4,
        dim_mult=[1, 2, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    )
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "vocab_size": 1000,
            "bos_token_id": 2,
            "eos_token_id": 3,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": 16,
        },
        hidden_size=16,
        vocab_size=1000,
        bos_token_id=2,
        eos_token_id=3,
        vision_end_token_id=997,
        vision_start_token_id=998,
        vision_token_id=999,
    )
    text_encoder = seeded(Qwen2_5_VLForConditionalGeneration, config).eval()
    return QwenImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=char_tokenizer(1024),
        transformer=transformer,
    )


def tiny_ltx_i2v() -> Any:
    """An LTXImageToVideoPipeline with random weights; works at 32x32 with 9 frames."""
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )

    transformer = seeded(
        LTXVideoTransformer3DModel,
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    vae = seeded(
        AutoencoderKLLTXVideo,
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    return LTXImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=_tiny_t5(),
        tokenizer=char_tokenizer(128),
        transformer=transformer,
    )


def tiny_wan_i2v() -> Any:
    """A Wan2.2-style WanImageToVideoPipeline (two experts, no image encoder) with random
    weights; works at 16x16 with 5 or 9 frames, with or without a last frame."""
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanImageToVideoPipeline,
        WanTransformer3DModel,
    )

    vae = seeded(
        AutoencoderKLWan,
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    experts = []
    for _ in range(2):
        experts.append(
            seeded(
                WanTransformer3DModel,
                patch_size=(1, 2, 2),
                num_attention_heads=2,
                attention_head_dim=12,
                in_channels=36,
                out_channels=16,
                text_dim=32,
                freq_dim=256,
                ffn_dim=32,
                num_layers=2,
                cross_attn_norm=True,
                qk_norm="rms_norm_across_heads",
                rope_max_seq_len=32,
            )
        )
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    return WanImageToVideoPipeline(
        tokenizer=char_tokenizer(512),
        text_encoder=_tiny_t5(umt5=True),
        vae=vae,
        scheduler=scheduler,
        image_processor=None,
        image_encoder=None,
        transformer=experts[0],
        transformer_2=experts[1],
        boundary_ratio=0.875,
    )


def tiny_depth() -> tuple[Any, Any]:
    """A Depth Anything model (DINOv2 backbone) with random weights and its image processor
    (works at 32x32)."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    backbone = Dinov2Config(
        image_size=32,
        patch_size=16,
        num_channels=3,
        hidden_size=4,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=8,
        out_indices=[1, 2],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=4,
        patch_size=16,
        neck_hidden_sizes=[2, 2],
        fusion_hidden_size=6,
    )
    model = seeded(DepthAnythingForDepthEstimation, config).eval()
    processor = DPTImageProcessor(
        do_resize=True,
        size={"height": 32, "width": 32},
        keep_aspect_ratio=False,
        ensure_multiple_of=16,
    )
    return model, processor


def tiny_kontext() -> Any:
    """A FluxKontextPipeline (instruction editing) on the tiny FLUX components."""
    from diffusers import FluxKontextPipeline

    return FluxKontextPipeline(**tiny_flux().components)


def _vae_x8(latent_channels: int, *, flux: bool, blocks: int = 4) -> Any:
    """An AutoencoderKL that downscales by 2**(blocks-1), 8 like the real ones by default
    (one-layer blocks of 4 channels, no attention), so a tiny pipeline runs at a show's real
    sizes on a CPU."""
    from diffusers import AutoencoderKL

    return seeded(
        AutoencoderKL,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4,) * blocks,
        layers_per_block=1,
        down_block_types=["DownEncoderBlock2D"] * blocks,
        up_block_types=["UpDecoderBlock2D"] * blocks,
        latent_channels=latent_channels,
        norm_num_groups=1,
        mid_block_add_attention=False,
        sample_size=64,
        **(_FLUX_VAE if flux else {}),
    )


def tiny_sdxl_fullsize() -> Any:
    """`tiny_sdxl` with a VAE that downscales by 8 and one attention layer per level, so
    1280x720 and 2560x1440 take seconds on a CPU."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

    parts = tiny_sdxl().components
    unet = seeded(
        UNet2DConditionModel,
        **{
            **dict(parts["unet"].config),
            "layers_per_block": 1,
            "transformer_layers_per_block": (1, 1),
        },
    )
    return StableDiffusionXLPipeline(**{**parts, "unet": unet, "vae": _vae_x8(4, flux=False)})


def tiny_kontext_fullsize() -> Any:
    """`tiny_kontext` with a VAE that downscales by 16 (edits at 2560x1440 in seconds: the
    image and its reference are 3,600 tokens each)."""
    from diffusers import FluxKontextPipeline

    parts = tiny_kontext().components
    return FluxKontextPipeline(**{**parts, "vae": _vae_x8(1, flux=True, blocks=5)})


BUILDERS = {
    "sdxl": tiny_sdxl,
    "sdxl-fullsize": tiny_sdxl_fullsize,
    "kontext-fullsize": tiny_kontext_fullsize,
    "sdxl-refiner": tiny_sdxl_refiner,
    "sd3": tiny_sd3,
    "flux": tiny_flux,
    "chroma": tiny_chroma,
    "z-image": tiny_zimage,
    "qwen-image": tiny_qwen_image,
    "wan-i2v": tiny_wan_i2v,
    "ltx-i2v": tiny_ltx_i2v,
    "kontext": tiny_kontext,
}


def save_tiny_esrgan(path: Path, scale: int = 2, arch: str = "esrgan") -> Path:
    """A random upscaler saved as .safetensors where spandrel can identify it: a 1-block,
    8-filter ESRGAN, or with `arch="compact"` a 1-conv, 4-feature Real-ESRGAN Compact (the
    architecture of realesr-general-x4v3; cheap enough for 1280x720 inputs on a CPU). The
    weights are scaled up so that the output is not nearly black."""
    import torch
    from safetensors.torch import save_file

    from app.generate.chain.upscale import import_spandrel

    import_spandrel()
    torch.manual_seed(0)
    if arch == "compact":
        from spandrel.architectures.Compact import Compact

        model: Any = Compact(num_feat=4, num_conv=1, upscale=scale)
    else:
        from spandrel.architectures.ESRGAN import ESRGAN

        model = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=scale)
    for p in model.parameters():
        p.data.mul_(3.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def save_tiny(name: str, folder: Path) -> Path:
    """Build the tiny model `name` (a key of BUILDERS, or 'depth') and save it in
    `folder` (diffusers / transformers layout). Returns the folder."""
    if name == "depth":
        return save_pretrained(folder, *tiny_depth())
    return save_pretrained(folder, BUILDERS[name]())


def _ldm_resnet(name: str) -> str:
    """A diffusers UNet resnet parameter name in the original (LDM) layout."""
    for ours, theirs in (
        ("norm1", "in_layers.0"),
        ("conv1", "in_layers.2"),
        ("time_emb_proj", "emb_layers.1"),
        ("norm2", "out_layers.0"),
        ("conv2", "out_layers.3"),
        ("conv_shortcut", "skip_connection"),
    ):
        if name.startswith(ours + "."):
            return theirs + name[len(ours) :]
    return name


def _ldm_unet_key(key: str, layers: int, up_attn: set[int]) -> str:
    """The original-layout name of a diffusers SDXL UNet parameter (`layers` resnets a down
    block; `up_attn` the up blocks with attentions)."""
    fixed = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "add_embedding.linear_1": "label_emb.0.0",
        "add_embedding.linear_2": "label_emb.0.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
    }
    head, _, leaf = key.rpartition(".")
    if head in fixed:
        return f"{fixed[head]}.{leaf}"
    part = key.split(".")
    if part[0] == "mid_block":
        index = {"resnets": {"0": 0, "1": 2}, "attentions": {"0": 1}}[part[1]][part[2]]
        rest = ".".join(part[3:])
        return f"middle_block.{index}." + (_ldm_resnet(rest) if part[1] == "resnets" else rest)
    block, kind, j, rest = int(part[1]), part[2], int(part[3]), ".".join(part[4:])
    if part[0] == "down_blocks":
        if kind == "downsamplers":
            return f"input_blocks.{(layers + 1) * (block + 1)}.0.op.{rest.split('.', 1)[1]}"
        where = f"input_blocks.{(layers + 1) * block + j + 1}"
    else:
        if kind == "upsamplers":
            slot = 2 if block in up_attn else 1
            return f"output_blocks.{(layers + 1) * block + layers}.{slot}.{rest}"
        where = f"output_blocks.{(layers + 1) * block + j}"
    if kind == "resnets":
        return f"{where}.0.{_ldm_resnet(rest)}"
    return f"{where}.1.{rest}"


def _ldm_vae_key(key: str, up_blocks: int) -> str:
    """The original-layout name of a diffusers AutoencoderKL parameter."""
    key = key.replace(".conv_shortcut.", ".nin_shortcut.").replace(".conv_norm_out.", ".norm_out.")
    key = key.replace("mid_block.resnets.0.", "mid.block_1.").replace(
        "mid_block.resnets.1.", "mid.block_2."
    )
    attn = "mid_block.attentions.0."
    if attn in key:
        head, rest = key.split(attn)
        for ours, theirs in (
            ("group_norm", "norm"),
            ("to_q", "q"),
            ("to_k", "k"),
            ("to_v", "v"),
            ("to_out.0", "proj_out"),
        ):
            if rest.startswith(ours + "."):
                return f"{head}mid.attn_1.{theirs}{rest[len(ours) :]}"
    part = key.split(".")
    if len(part) > 3 and part[1] in ("down_blocks", "up_blocks"):
        block = int(part[2])
        if part[1] == "up_blocks":
            block = up_blocks - 1 - block
        level = "down" if part[1] == "down_blocks" else "up"
        rest = ".".join(part[5:])
        if part[3] == "resnets":
            return f"{part[0]}.{level}.{block}.block.{part[4]}.{rest}"
        sample = "downsample" if level == "down" else "upsample"
        return f"{part[0]}.{level}.{block}.{sample}.{rest}"
    return key


def _open_clip_tensors(state: dict[str, Any]) -> dict[str, Any]:
    """A transformers CLIPTextModelWithProjection's weights in the OpenCLIP layout of the
    original SDXL checkpoints (under `conditioner.embedders.1.model.`)."""
    import torch

    prefix = "conditioner.embedders.1.model."
    out = {
        prefix + "positional_embedding": state["text_model.embeddings.position_embedding.weight"],
        prefix + "token_embedding.weight": state["text_model.embeddings.token_embedding.weight"],
        prefix + "ln_final.weight": state["text_model.final_layer_norm.weight"],
        prefix + "ln_final.bias": state["text_model.final_layer_norm.bias"],
        prefix + "text_projection": state["text_projection.weight"].T.contiguous(),
    }
    layer = "text_model.encoder.layers."
    count = 1 + max(int(k[len(layer) :].split(".")[0]) for k in state if k.startswith(layer))
    for i in range(count):
        ours, theirs = f"{layer}{i}.", f"{prefix}transformer.resblocks.{i}."
        for leaf in ("weight", "bias"):
            out[f"{theirs}attn.in_proj_{leaf}"] = torch.cat(
                [state[f"{ours}self_attn.{p}_proj.{leaf}"] for p in "qkv"]
            )
            for a, b in (
                ("self_attn.out_proj", "attn.out_proj"),
                ("layer_norm1", "ln_1"),
                ("layer_norm2", "ln_2"),
                ("mlp.fc1", "mlp.c_fc"),
                ("mlp.fc2", "mlp.c_proj"),
            ):
                out[f"{theirs}{b}.{leaf}"] = state[f"{ours}{a}.{leaf}"]
    return out


def save_sdxl_single_file(path: Path) -> Path:
    """The tiny SDXL's UNet and VAE as one checkpoint file in the original (LDM) layout, the
    way fine-tunes are shipped, for `from_single_file(path, config=<the tiny SDXL folder>)`.

    Every component is in the file: UNet, VAE, the CLIP text encoder (as the original
    checkpoints hold it) and the second, OpenCLIP-layout encoder (fused q/k/v projections,
    a transposed text projection); the config folder gives only configs and tokenizers.
    """
    from safetensors.torch import save_file

    pipe = tiny_sdxl()
    unet, vae = pipe.unet, pipe.vae
    up_attn = {i for i, t in enumerate(unet.config.up_block_types) if "CrossAttn" in t}
    layers = int(unet.config.layers_per_block)
    tensors = {}
    for key, value in unet.state_dict().items():
        tensors["model.diffusion_model." + _ldm_unet_key(key, layers, up_attn)] = value
    ups = len(vae.config.up_block_types)
    for key, value in vae.state_dict().items():
        name = _ldm_vae_key(key, ups)
        if ".mid.attn_1." in name and name.endswith("weight") and value.ndim == 2:
            value = value[:, :, None, None]  # the original layout's 1x1 convolutions
        tensors["first_stage_model." + name] = value.contiguous()
    for key, value in pipe.text_encoder.state_dict().items():
        tensors["conditioner.embedders.0.transformer." + key] = value
    tensors.update(_open_clip_tensors(pipe.text_encoder_2.state_dict()))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path
