#version 330 core
// A 4:2:0 video frame (three R8 planes) converted to RGB with the matrix and offset of
// app.render.colour.yuv_matrix, on a quad of half-extent u_scale, weighted like quad.glsl.

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
uniform sampler2D u_y;
uniform sampler2D u_u;
uniform sampler2D u_v;
uniform mat3 u_matrix;  // rgb = u_matrix * yuv + u_offset, yuv = code values / 255
uniform vec3 u_offset;
// chroma uv = luma uv * xy + zw: maps odd sizes and puts chroma at its 4:2:0 siting
uniform vec4 u_chroma;
uniform vec2 u_weight;  // (rgb factor, alpha factor)
in vec2 v_uv;
out vec4 f_color;

void main() {
    vec2 cuv = v_uv * u_chroma.xy + u_chroma.zw;
    vec3 yuv = vec3(texture(u_y, v_uv).r, texture(u_u, cuv).r, texture(u_v, cuv).r);
    vec3 rgb = clamp(u_matrix * yuv + u_offset, 0.0, 1.0);
    f_color = vec4(rgb * u_weight.x, u_weight.y);
}
#endif
