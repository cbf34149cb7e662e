#version 330 core
// A premultiplied RGBA texture on a quad of half-extent u_scale (NDC), weighted so that the
// caller's blend function either adds it (a crossfade inside a layer) or lays it "over".

#if defined VERTEX_SHADER
uniform vec2 u_scale;    // quad half-extent in NDC, from app.render.fit.fit_scale
uniform float u_flip_y;  // 1.0 when texture row 0 is the image's top row
out vec2 v_uv;

void main() {
    // gl_VertexID 0..3 -> corners of a triangle strip, no vertex buffer needed
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1)) * 2.0 - 1.0;
    v_uv = corner * 0.5 + 0.5;
    v_uv.y = mix(v_uv.y, 1.0 - v_uv.y, u_flip_y);
    gl_Position = vec4(corner * u_scale, 0.0, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
uniform sampler2D u_texture;
uniform vec2 u_weight;   // (rgb factor, alpha factor)
uniform bool u_opaque;  // first draw over opaque black, no blending: write alpha 1
in vec2 v_uv;
out vec4 f_color;

void main() {
    // float layer buffers can sum past 1 when weights overlap: clamp like an 8-bit buffer
    vec4 c = clamp(texture(u_texture, v_uv), 0.0, 1.0);
    f_color = vec4(c.rgb * u_weight.x, u_opaque ? 1.0 : c.a * u_weight.y);
}
#endif
