#version 330 core
// The projector test card (app.render.testcard), drawn per pixel: a grid through the centre,
// a border, circles (is the aspect right?), colour bars, a greyscale ramp and steps, a
// frame-rate track with one slot lit per frame, corner markers, and a text overlay made by
// Pillow. All rectangles come from app.render.testcard.card_layout, in pixels, y down.

#if defined VERTEX_SHADER
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1)) * 2.0 - 1.0;
    gl_Position = vec4(corner, 0.0, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
uniform vec2 u_size;      // card size in pixels
uniform int u_cell;       // grid pitch in pixels
uniform int u_line;       // line width in pixels
uniform int u_marker;     // corner marker size in pixels
uniform vec4 u_bars;      // x0, y0, x1, y1
uniform vec4 u_ramp;      // smooth ramp on the upper half, 11 steps on the lower half
uniform vec4 u_track;     // frame-rate track
uniform int u_slots;      // slots on the track (one second of frames)
uniform int u_frame;
uniform float u_radius;   // big centre circle
uniform sampler2D u_overlay;  // text, premultiplied RGBA, same size as the card
out vec4 f_color;

const vec3 BARS[8] = vec3[8](
    vec3(1, 1, 1), vec3(1, 1, 0), vec3(0, 1, 1), vec3(0, 1, 0),
    vec3(1, 0, 1), vec3(1, 0, 0), vec3(0, 0, 1), vec3(0, 0, 0)
);
const vec3 MARKERS[4] = vec3[4](vec3(1, 0, 0), vec3(0, 1, 0), vec3(0, 0, 1), vec3(1, 1, 0));

bool inside(vec2 p, vec4 r) {
    return p.x >= r.x && p.x < r.z && p.y >= r.y && p.y < r.w;
}

float ring(vec2 p, vec2 centre, float radius, float width) {
    float d = abs(length(p - centre) - radius);
    return 1.0 - smoothstep(width * 0.5 - 0.5, width * 0.5 + 0.5, d);
}

void main() {
    vec2 p = vec2(gl_FragCoord.x, u_size.y - gl_FragCoord.y);  // pixel centre, y down
    ivec2 ip = ivec2(floor(p));
    ivec2 size = ivec2(u_size);
    ivec2 centre = size / 2;
    vec3 c = vec3(0.0);

    // grid: lines through the centre every u_cell pixels
    ivec2 rel = ip - centre + u_line / 2;
    ivec2 m = ((rel % u_cell) + u_cell) % u_cell;
    if (m.x < u_line || m.y < u_line) {
        c = vec3(0.55);
    }
    // circles: one big in the middle, one in each quarter
    float r = ring(p, vec2(centre), u_radius, float(u_line) * 1.5);
    vec2 q = vec2(size) * 0.5 - 2.0 * float(u_cell);
    for (int i = 0; i < 4; i++) {
        vec2 s = vec2((i & 1) == 0 ? -1.0 : 1.0, (i & 2) == 0 ? -1.0 : 1.0);
        r = max(r, ring(p, vec2(centre) + s * q, float(u_cell), float(u_line)));
    }
    c = mix(c, vec3(1.0), r);
    // border: the raster's edge
    if (ip.x < u_line || ip.y < u_line || ip.x >= size.x - u_line || ip.y >= size.y - u_line) {
        c = vec3(1.0);
    }
    if (inside(p, u_bars)) {
        int i = clamp(int((p.x - u_bars.x) / (u_bars.z - u_bars.x) * 8.0), 0, 7);
        c = BARS[i];
    }
    if (inside(p, u_ramp)) {
        float t = (p.x - u_ramp.x) / (u_ramp.z - u_ramp.x);
        if (p.y >= 0.5 * (u_ramp.y + u_ramp.w)) {
            t = floor(t * 11.0) / 10.0;
        }
        c = vec3(clamp(t, 0.0, 1.0));
    }
    if (inside(p, u_track)) {
        float w = (u_track.z - u_track.x) / float(u_slots);
        int slot = int((p.x - u_track.x) / w);
        float gap = p.x - u_track.x - float(slot) * w;
        bool lit = slot == u_frame % u_slots;
        c = gap < 1.0 ? vec3(0.0) : (lit ? vec3(1.0) : vec3(0.2));
    }
    // corner markers: corner 1-4 (TL, TR, BR, BL) in red, green, blue, yellow
    bool left = ip.x < u_marker, right = ip.x >= size.x - u_marker;
    bool top = ip.y < u_marker, bottom = ip.y >= size.y - u_marker;
    if (top && left) c = MARKERS[0];
    if (top && right) c = MARKERS[1];
    if (bottom && right) c = MARKERS[2];
    if (bottom && left) c = MARKERS[3];

    vec4 text = texelFetch(u_overlay, ivec2(gl_FragCoord.xy), 0);
    f_color = vec4(c * (1.0 - text.a) + text.rgb, 1.0);
}
#endif
