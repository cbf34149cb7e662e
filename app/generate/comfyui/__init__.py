"""ComfyUI recipes: `workflow` (load, bind and validate API-format graphs; pure), `ui_format`
(the editor's UI format to API format), `image` (workflows read from PNG/WebP chunks),
`recipe` (a workflow file to a `generate:` recipe), `limits` (the registry's `comfyui:`
limits), `backend` (the HTTP client, server slots and the routing backend)."""
