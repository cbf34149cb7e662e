#version 330 core
// The composited layers (premultiplied, float) to the output: times master and (1 - black),
// opaque.

#if defined VERTEX_SHADER
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1)) * 2.0 - 1.0;
    gl_Position = vec4(corner, 0.0, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
uniform sampler2D u_texture;  // same size as the target: read texel for texel
uniform float u_gain;         // master * (1 - black)
out vec4 f_color;

void main() {
    vec3 c = clamp(texelFetch(u_texture, ivec2(gl_FragCoord.xy), 0).rgb, 0.0, 1.0);
    f_color = vec4(c * u_gain, 1.0);
}
#endif
