#version 330 core
// A HAP frame sampled straight from its compressed textures (app/render/hap.py), on a quad
// of half-extent u_scale, weighted and premultiplied like quad.glsl. HAP_LAYOUT: 0 RGB
// (Hap1), 1 straight RGBA (Hap5, Hap7), 2 scaled YCoCg (HapY), 3 YCoCg + RGTC1 alpha
// (HapM), 4 alpha only (HapA, shown as grey like FFmpeg's decoder). look.glsl's SOURCE_HAP
// samples the same way: keep hap_sample identical in both.

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
#if !defined HAP_LAYOUT
#define HAP_LAYOUT 0
#endif
uniform sampler2D u_tex0;
uniform sampler2D u_tex1;  // HapM: the RGTC1 alpha texture
uniform vec2 u_weight;     // (rgb factor, alpha factor)
uniform bool u_opaque;     // first draw over opaque black, no blending: write alpha 1
in vec2 v_uv;
out vec4 f_color;

// Straight (not premultiplied) RGBA of the frame at uv.
vec4 hap_sample(vec2 uv) {
    vec4 c = texture(u_tex0, uv);
#if HAP_LAYOUT == 0
    return vec4(c.rgb, 1.0);
#elif HAP_LAYOUT == 1
    return c;
#elif HAP_LAYOUT == 4
    return vec4(c.rrr, 1.0);
#else
    // Scaled YCoCg in DXT5: r = Co, g = Cg (both offset by 128/255), b = (scale - 1) / 8,
    // a = Y; the encoder divided the chroma by the block's scale (HAP specification).
    float scale = c.b * (255.0 / 8.0) + 1.0;
    float co = (c.r - 128.0 / 255.0) / scale;
    float cg = (c.g - 128.0 / 255.0) / scale;
    vec3 rgb = clamp(vec3(c.a + co - cg, c.a + cg, c.a - co - cg), 0.0, 1.0);
#if HAP_LAYOUT == 3
    return vec4(rgb, texture(u_tex1, uv).r);
#else
    return vec4(rgb, 1.0);
#endif
#endif
}

void main() {
    vec4 c = hap_sample(v_uv);
    f_color = vec4(c.rgb * c.a * u_weight.x, u_opaque ? 1.0 : c.a * u_weight.y);
}
#endif
