#version 330 core
// The show texture on the output through a four-corner warp (app.render.warp). Each output
// pixel maps back through the inverse homography to the show point drawn there, so the
// picture stays perspective-correct (two textured triangles would bend it along their
// diagonal) and a configured corner lands exactly where it was configured. Black outside;
// the quad's edges are antialiased over one output pixel.

#if defined VERTEX_SHADER
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1)) * 2.0 - 1.0;
    gl_Position = vec4(corner, 0.0, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
uniform sampler2D u_texture;  // the show, GL orientation (texture row 0 = bottom of the image)
uniform mat3 u_inverse;       // output (x, y, 1) -> show (u, v, w); both normalised, y down
uniform vec4 u_viewport;      // the output surface in window pixels: x, y (GL, bottom), w, h
out vec4 f_color;

void main() {
    vec2 p = (gl_FragCoord.xy - u_viewport.xy) / u_viewport.zw;
    p.y = 1.0 - p.y;
    vec3 q = u_inverse * vec3(p, 1.0);
    vec2 uv = q.xy / q.z;
    // distance to the nearest edge of the show in output pixels, for edge coverage
    vec2 edge = min(uv, 1.0 - uv) / max(fwidth(uv), vec2(1e-6));
    float cover = clamp(edge.x + 0.5, 0.0, 1.0) * clamp(edge.y + 0.5, 0.0, 1.0);
    if (q.z <= 0.0) {
        cover = 0.0;  // behind the projection centre: nothing of the show lands here
    }
    vec3 c = texture(u_texture, vec2(uv.x, 1.0 - uv.y)).rgb;
    f_color = vec4(c * cover, 1.0);
}
#endif
