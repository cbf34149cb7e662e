#version 330 core
// The operator view's quads (app.render.ui): solid rectangles and text sampled from a
// one-channel atlas (mode 0), or an RGB image such as a monitor or a thumbnail (mode 1).
// Positions are window pixels with the origin at the top left.

#if defined VERTEX_SHADER
uniform vec2 u_viewport;  // target size in pixels
in vec2 in_pos;
in vec2 in_uv;
in vec4 in_color;
out vec2 v_uv;
out vec4 v_color;

void main() {
    v_uv = in_uv;
    v_color = in_color;
    vec2 ndc = in_pos / u_viewport * 2.0 - 1.0;
    gl_Position = vec4(ndc.x, -ndc.y, 0.0, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
uniform sampler2D u_texture;
uniform int u_mode;  // 0: atlas coverage times the vertex colour; 1: image tinted by it
in vec2 v_uv;
in vec4 v_color;
out vec4 f_color;

void main() {
    vec4 t = texture(u_texture, v_uv);
    if (u_mode == 0) {
        f_color = vec4(v_color.rgb, v_color.a * t.r);
    } else {
        f_color = vec4(t.rgb * v_color.rgb, v_color.a);
    }
}
#endif
