// Turns a splat layer blended in linear light (ml-sharp scenes) into the sRGB-encoded
// premultiplied image the compositor mixes with stills and video: un-premultiply, encode,
// premultiply again. Same rule as tests/splat_oracle.py.

#if defined VERTEX_SHADER
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1)) * 2.0 - 1.0;
    gl_Position = vec4(corner, 0.0, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
uniform sampler2D u_accum;  // RGBA16F, premultiplied linear colour
out vec4 f_colour;

vec3 linear_to_srgb(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c));
}

void main() {
    vec4 p = texelFetch(u_accum, ivec2(gl_FragCoord.xy), 0);
    if (p.a <= 0.0) {
        f_colour = vec4(0.0);
        return;
    }
    f_colour = vec4(linear_to_srgb(p.rgb / p.a) * p.a, p.a);
}
#endif
