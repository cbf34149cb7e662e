// Included by hap.glsl and look.glsl (fragment stages): a HAP frame's straight RGBA read
// from its compressed textures (app/render/hap.py). HAP_LAYOUT: 0 RGB (Hap1), 1 straight
// RGBA (Hap5, Hap7), 2 scaled YCoCg (HapY), 3 YCoCg + RGTC1 alpha (HapM), 4 alpha only
// (HapA, shown as grey like FFmpeg's decoder).
#if !defined HAP_LAYOUT
#define HAP_LAYOUT 0
#endif
uniform sampler2D u_tex0;
uniform sampler2D u_tex1;  // HapM: the RGTC1 alpha texture

// Straight (not premultiplied) RGBA of the frame at uv (texture coordinates).
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
