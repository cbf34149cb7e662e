"""The call arguments of the diffusers pipeline classes the family table names, as data.

`check` tests a recipe's `extra:` keys against this table without importing torch or
diffusers. Written from diffusers 0.42.1 (`python -m app.generate.chain.pipeline_args` prints
it again from the installed diffusers); tests/test_a1111.py keeps it equal to that. A class
not in the table is checked when it renders.

The table is written as what every class takes (`CORE`), each family's text-to-image
arguments, and what its image-to-image and inpaint twins add or drop.
"""

from __future__ import annotations


def _names(text: str) -> frozenset[str]:
    """The argument names in `text`, separated by spaces."""
    return frozenset(text.split())


# What every class in the table takes.
CORE = _names(
    "prompt num_inference_steps guidance_scale generator prompt_embeds output_type return_dict "
    "callback_on_step_end callback_on_step_end_tensor_inputs"
)
# What an image-to-image twin adds to its text-to-image class, and an inpaint twin.
IMG2IMG = _names("image strength")
INPAINT = IMG2IMG | _names("mask_image masked_image_latents padding_mask_crop")
# SD3's skip-layer guidance (its twins take none).
SKIP_LAYER_GUIDANCE = _names(
    "skip_guidance_layers skip_layer_guidance_scale skip_layer_guidance_start "
    "skip_layer_guidance_stop"
)
_CHROMA = CORE | _names(
    "negative_prompt height width sigmas num_images_per_prompt latents ip_adapter_image "
    "ip_adapter_image_embeds negative_ip_adapter_image negative_ip_adapter_image_embeds "
    "negative_prompt_embeds prompt_attention_mask negative_prompt_attention_mask "
    "joint_attention_kwargs max_sequence_length"
)
_FLUX = CORE | _names(
    "prompt_2 negative_prompt negative_prompt_2 true_cfg_scale height width sigmas "
    "num_images_per_prompt latents pooled_prompt_embeds ip_adapter_image "
    "ip_adapter_image_embeds negative_ip_adapter_image negative_ip_adapter_image_embeds "
    "negative_prompt_embeds negative_pooled_prompt_embeds joint_attention_kwargs "
    "max_sequence_length"
)
_QWEN_IMAGE = CORE | _names(
    "negative_prompt true_cfg_scale height width sigmas num_images_per_prompt latents "
    "prompt_embeds_mask negative_prompt_embeds negative_prompt_embeds_mask attention_kwargs "
    "max_sequence_length"
)
_SD3 = (
    CORE
    | SKIP_LAYER_GUIDANCE
    | _names(
        "prompt_2 prompt_3 height width sigmas negative_prompt negative_prompt_2 negative_prompt_3 "
        "num_images_per_prompt latents negative_prompt_embeds pooled_prompt_embeds "
        "negative_pooled_prompt_embeds ip_adapter_image ip_adapter_image_embeds "
        "joint_attention_kwargs clip_skip max_sequence_length mu"
    )
)
_SD = CORE | _names(
    "height width timesteps sigmas negative_prompt num_images_per_prompt eta latents "
    "negative_prompt_embeds ip_adapter_image ip_adapter_image_embeds cross_attention_kwargs "
    "guidance_rescale clip_skip"
)
_SDXL = CORE | _names(
    "prompt_2 height width timesteps sigmas denoising_end negative_prompt negative_prompt_2 "
    "num_images_per_prompt eta latents negative_prompt_embeds pooled_prompt_embeds "
    "negative_pooled_prompt_embeds ip_adapter_image ip_adapter_image_embeds "
    "cross_attention_kwargs guidance_rescale original_size crops_coords_top_left target_size "
    "negative_original_size negative_crops_coords_top_left negative_target_size clip_skip"
)
_Z_IMAGE = CORE | _names(
    "height width sigmas cfg_normalization cfg_truncation negative_prompt num_images_per_prompt "
    "latents negative_prompt_embeds joint_attention_kwargs max_sequence_length"
)
# What the SDXL twins add besides (the refiner's arguments).
_SDXL_TWIN = _names("denoising_start aesthetic_score negative_aesthetic_score")

CALL_ARGUMENTS: dict[str, frozenset[str]] = {
    "ChromaImg2ImgPipeline": _CHROMA | IMG2IMG,
    "ChromaInpaintPipeline": _CHROMA | INPAINT | _names("true_cfg_scale"),
    "ChromaPipeline": _CHROMA,
    "Flux2KleinPipeline": CORE
    | _names(
        "image height width sigmas num_images_per_prompt latents negative_prompt_embeds "
        "attention_kwargs max_sequence_length text_encoder_out_layers"
    ),
    "Flux2Pipeline": CORE
    | _names(
        "image height width sigmas num_images_per_prompt latents attention_kwargs "
        "max_sequence_length text_encoder_out_layers caption_upsample_temperature"
    ),
    "FluxImg2ImgPipeline": _FLUX | IMG2IMG,
    "FluxInpaintPipeline": _FLUX | INPAINT,
    "FluxKontextPipeline": _FLUX | _names("image max_area _auto_resize"),
    "FluxPipeline": _FLUX,
    "LTXImageToVideoPipeline": CORE
    | _names(
        "image negative_prompt height width num_frames frame_rate timesteps guidance_rescale "
        "num_videos_per_prompt latents prompt_attention_mask negative_prompt_embeds "
        "negative_prompt_attention_mask decode_timestep decode_noise_scale attention_kwargs "
        "max_sequence_length"
    ),
    "QwenImageEditPipeline": _QWEN_IMAGE | _names("image"),
    "QwenImageEditPlusPipeline": _QWEN_IMAGE | _names("image"),
    "QwenImageImg2ImgPipeline": _QWEN_IMAGE | IMG2IMG,
    "QwenImageInpaintPipeline": _QWEN_IMAGE | INPAINT,
    "QwenImagePipeline": _QWEN_IMAGE,
    "StableDiffusion3Img2ImgPipeline": (_SD3 | IMG2IMG) - SKIP_LAYER_GUIDANCE,
    "StableDiffusion3InpaintPipeline": (_SD3 | INPAINT) - SKIP_LAYER_GUIDANCE,
    "StableDiffusion3Pipeline": _SD3,
    "StableDiffusionImg2ImgPipeline": (_SD | IMG2IMG)
    - _names("height width latents guidance_rescale"),
    "StableDiffusionInpaintPipeline": (_SD | INPAINT) - _names("guidance_rescale"),
    "StableDiffusionPipeline": _SD,
    "StableDiffusionXLImg2ImgPipeline": ((_SDXL | IMG2IMG) - _names("height width")) | _SDXL_TWIN,
    "StableDiffusionXLInpaintPipeline": _SDXL | INPAINT | _SDXL_TWIN,
    "StableDiffusionXLPipeline": _SDXL,
    "WanImageToVideoPipeline": CORE
    | _names(
        "image negative_prompt height width num_frames guidance_scale_2 num_videos_per_prompt "
        "latents negative_prompt_embeds image_embeds last_image attention_kwargs "
        "max_sequence_length"
    ),
    "ZImageImg2ImgPipeline": _Z_IMAGE | IMG2IMG,
    "ZImageInpaintPipeline": (_Z_IMAGE | INPAINT) - _names("padding_mask_crop"),
    "ZImagePipeline": _Z_IMAGE,
}


def installed_arguments(class_name: str) -> frozenset[str]:
    """The call arguments of `class_name` in the installed diffusers (imports torch)."""
    import inspect

    import diffusers

    params = inspect.signature(getattr(diffusers, class_name).__call__).parameters
    return frozenset(
        name
        for name, p in params.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    )


def extra_problem(class_name: str | None, key: str) -> str | None:
    """Why `extra.<key>` cannot go to `class_name`'s call, or None (also for classes not in
    the table: those are checked when they render)."""
    known = CALL_ARGUMENTS.get(class_name or "")
    if known is None or key in known:
        return None
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"generate.extra.{key}: {class_name} takes no argument '{key}'{hint}"


if __name__ == "__main__":
    for name in sorted(CALL_ARGUMENTS):
        print(name, " ".join(sorted(installed_arguments(name))))
