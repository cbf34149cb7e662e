#version 330 core
// A HAP frame sampled straight from its compressed textures (app/render/hap.py), on a quad
// of half-extent u_scale, weighted and premultiplied like quad.glsl. The sampling (and the
// HAP_LAYOUT define) is hap_sample.glsl's, which look.glsl's SOURCE_HAP includes too.

#if defined VERTEX_SHADER
uniform vec2 u_scale;    // quad half-extent in NDC, from app.render.fit.fit_scale
uniform float u_flip_y;  // 1.0 when texture row 0 is the image's top row
uniform vec2 u_uv_scale; // image size / texture size (textures cover whole 4x4 blocks)
out vec2 v_uv;

void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1)) * 2.0 - 1.0;
    v_uv = corner * 0.5 + 0.5;
    v_uv.y = mix(v_uv.y, 1.0 - v_uv.y, u_flip_y);
    v_uv *= u_uv_scale;
    gl_Position = vec4(corner * u_scale, 0.0, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
uniform vec2 u_weight;     // (rgb factor, alpha factor)
uniform bool u_opaque;     // first draw over opaque black, no blending: write alpha 1
in vec2 v_uv;
out vec4 f_color;

#include "hap_sample.glsl"

void main() {
    vec4 c = hap_sample(v_uv);
    f_color = vec4(c.rgb * c.a * u_weight.x, u_opaque ? 1.0 : c.a * u_weight.y);
}
#endif
