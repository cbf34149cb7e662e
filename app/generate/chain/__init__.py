"""The diffusers chain: a still's base pass and the steps after it, for the diffusers backend.

`diffusers_backend` (the backend: loading, the first pass, refine, video, splats), `stages`
(the recipe's steps after the base, and `Chain`, the object that renders them and owns
their state), `families` (the family rule table), `pipeline_args` (the pipelines' call
arguments, as data), `lora`, `prompt_weights` (A1111 weights through compel), `upscale`
(learned upscalers through spandrel), `previews` (the step images kept for contact sheets).
torch is imported inside functions only.
"""
