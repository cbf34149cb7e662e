#version 330 core
// A cue drawn with its look: quad.glsl (premultiplied RGBA) or, with SOURCE_YUV defined,
// yuv.glsl (three 4:2:0 planes), with the look applied to the straight colour before the
// weights. Same vertex stage and uniforms as those two; the look's math is
// app/render/look_math.py, step for step, and its uniforms come from look_uniforms there.
// LOOK_DUST, LOOK_GRAIN and LOOK_VIGNETTE (0 or 1, from look_defines) compile in only what a
// look uses: llvmpipe pays for both sides of a branch, even on a uniform.

#if defined VERTEX_SHADER
uniform vec2 u_scale;    // quad half-extent in NDC, from app.render.fit.fit_scale
uniform float u_flip_y;  // 1.0 when texture row 0 is the image's top row
out vec2 v_uv;

void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1)) * 2.0 - 1.0;
    v_uv = corner * 0.5 + 0.5;
    v_uv.y = mix(v_uv.y, 1.0 - v_uv.y, u_flip_y);
    gl_Position = vec4(corner * u_scale, 0.0, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
#if !defined LOOK_DUST
#define LOOK_DUST 0
#endif
#if !defined LOOK_GRAIN
#define LOOK_GRAIN 0
#endif
#if !defined LOOK_VIGNETTE
#define LOOK_VIGNETTE 0
#endif

#if defined SOURCE_YUV
uniform sampler2D u_y;
uniform sampler2D u_u;
uniform sampler2D u_v;
uniform mat3 u_matrix;
uniform vec3 u_offset;
uniform vec4 u_chroma;
#elif defined SOURCE_HAP
uniform bool u_opaque;  // (its samplers are declared by hap_sample.glsl)
#else
uniform sampler2D u_texture;
uniform bool u_opaque;  // first draw over opaque black, no blending: write alpha 1
#endif
uniform vec2 u_weight;  // (rgb factor, alpha factor)
#if defined SOURCE_HAP
uniform vec2 u_uv_scale;  // image size / texture size (HAP textures cover whole blocks)
#endif

uniform vec3 u_tint;
uniform float u_tint_amount;
uniform float u_saturation;
uniform float u_contrast;
uniform float u_brightness;
#if LOOK_DUST
uniform sampler2D u_dust_cells;  // RGBA32F, one texel per cell: centre xy, radius, noise
uniform float u_dust_threshold;
uniform float u_dust_inv_cell;   // 1 / cell side in pixels
uniform vec3 u_scratch_x;        // three scratches: centre x (px),
uniform vec3 u_scratch_half;     // half width (px),
uniform vec3 u_scratch_strength; // strength (0: none)
#endif
#if LOOK_GRAIN
uniform float u_grain;
uniform uint u_grain_key;
#endif
#if LOOK_VIGNETTE
uniform float u_vignette;
uniform vec2 u_vignette_scale;   // 2 / target size in pixels
#endif
in vec2 v_uv;
out vec4 f_color;

const vec3 LUMA = vec3(0.2126, 0.7152, 0.0722);
const float GRAIN_STRENGTH = 0.25;

uint hash_u32(uint x) {
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

float unit_float(uint h) {
    return float(h >> 8) * (1.0 / 16777216.0);
}

vec3 grade(vec3 rgb) {
    float lum = dot(rgb, LUMA);
    vec3 c = lum + (rgb - lum) * u_saturation;
    c += (lum * u_tint - c) * u_tint_amount;
    c = (c - 0.5) * u_contrast + 0.5 + u_brightness;
    return clamp(c, 0.0, 1.0);
}

#if LOOK_DUST
// (no integer division: it has no vector instruction on the CPU llvmpipe runs on)
vec3 dust(vec3 rgb) {
    vec4 speck = texelFetch(u_dust_cells, ivec2(gl_FragCoord.xy * u_dust_inv_cell), 0);
    float present = speck.w < u_dust_threshold ? 0.9 : 0.0;
    float cover = clamp(abs(speck.z) - length(gl_FragCoord.xy - speck.xy) + 0.5, 0.0, 1.0);
    float tone = speck.z > 0.0 ? 0.08 : 0.92;
    rgb += (vec3(tone) - rgb) * (cover * present);
    vec3 scratch = clamp(u_scratch_half + 0.5 - abs(gl_FragCoord.x - u_scratch_x), 0.0, 1.0);
    scratch *= u_scratch_strength;
    return rgb + (1.0 - rgb) * max(max(scratch.x, scratch.y), scratch.z);
}
#endif

#if LOOK_GRAIN
vec3 grain(vec3 rgb, ivec2 px) {
    float n = unit_float(hash_u32(uint((px.y << 16) | px.x) ^ u_grain_key));
    float lum = dot(rgb, LUMA);
    return rgb + u_grain * GRAIN_STRENGTH * (2.0 * n - 1.0) * 4.0 * lum * (1.0 - lum);
}
#endif

#if LOOK_VIGNETTE
vec3 vignette(vec3 rgb) {
    vec2 p = gl_FragCoord.xy * u_vignette_scale - 1.0;
    float s = smoothstep(0.35, 1.0, length(p) * sqrt(0.5));
    return rgb * (1.0 - u_vignette * s);
}
#endif

vec3 apply_look(vec3 rgb) {
    rgb = grade(rgb);
#if LOOK_DUST
    rgb = dust(rgb);
#endif
#if LOOK_GRAIN
    rgb = grain(rgb, ivec2(gl_FragCoord.xy));
#endif
#if LOOK_VIGNETTE
    rgb = vignette(rgb);
#endif
    return clamp(rgb, 0.0, 1.0);
}

#if defined SOURCE_HAP
#include "hap_sample.glsl"
#endif

void main() {
#if defined SOURCE_HAP
    vec4 c = hap_sample(v_uv * u_uv_scale);
    f_color = vec4(apply_look(c.rgb) * c.a * u_weight.x, u_opaque ? 1.0 : c.a * u_weight.y);
#elif defined SOURCE_YUV
    vec2 cuv = v_uv * u_chroma.xy + u_chroma.zw;
    vec3 yuv = vec3(texture(u_y, v_uv).r, texture(u_u, cuv).r, texture(u_v, cuv).r);
    vec3 rgb = clamp(u_matrix * yuv + u_offset, 0.0, 1.0);
    f_color = vec4(apply_look(rgb) * u_weight.x, u_weight.y);
#else
    vec4 c = clamp(texture(u_texture, v_uv), 0.0, 1.0);
    vec3 straight = c.rgb * (1.0 / max(c.a, 1e-6));  // premultiplied: rgb is 0 where a is
    f_color = vec4(apply_look(straight) * c.a * u_weight.x, u_opaque ? 1.0 : c.a * u_weight.y);
#endif
}
#endif
