// Gaussian splats: projection (EWA footprint + colour) and drawing, one definition for both
// paths of app/render/splats.py:
// - GPU path: the COMPUTE_SHADER stage projects every splat into a screen-space record and a
//   depth key; after the radix sort (splat_sort.glsl) the records are drawn in order as
//   instanced quads (VERTEX_SHADER without PROJECT_IN_VERTEX).
// - CPU-sort path (no compute shaders, or sort='cpu'): numpy sorts indices by depth and the
//   VERTEX_SHADER with PROJECT_IN_VERTEX projects each splat itself, from data textures.
// Constants match tests/splat_oracle.py: 1.3*tan(fov/2) clamp, per-scene dilation, extent
// min(3 sigma, where alpha falls to 1/255), screen-radius clamp, alpha = min(0.99, o*exp(-r2/2)),
// fragments below 1/255 discarded, premultiplied output blended ONE, ONE_MINUS_SRC_ALPHA.

uniform mat4 u_view;          // world -> camera (OpenCV: x right, y down, z forward)
uniform vec4 u_intr;          // fx, fy, cx, cy in target pixels
uniform vec2 u_size;          // target width, height
uniform vec2 u_limit;         // 1.3 * tan(half field of view) in x and y
uniform vec2 u_depth_range;   // near, far (camera z)
uniform float u_dilation;     // px^2 added to the 2D covariance diagonal
uniform float u_max_radius;   // px: quad half-extents are clamped to this
uniform vec3 u_camera;        // camera centre in world space (SH view direction)
uniform int u_sh_degree;      // 0..3
uniform int u_to_linear;      // 1: colours are sRGB, blending is in linear light

const float ALPHA_MIN = 1.0 / 255.0;

vec3 srgb_to_linear(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(0.04045, c));
}

// Real spherical harmonics up to degree 3 (the 3DGS basis and sign convention); `rest` holds
// the coefficients 1..15 (without the DC term, which is already in the colour).
vec3 sh_colour(vec3 dir, vec3 rest[15], int degree) {
    float x = dir.x, y = dir.y, z = dir.z;
    vec3 c = vec3(0.0);
    if (degree >= 1) {
        c += 0.4886025119029199 * (-y * rest[0] + z * rest[1] - x * rest[2]);
    }
    if (degree >= 2) {
        float xx = x * x, yy = y * y, zz = z * z;
        c += 1.0925484305920792 * x * y * rest[3]
           - 1.0925484305920792 * y * z * rest[4]
           + 0.31539156525252005 * (2.0 * zz - xx - yy) * rest[5]
           - 1.0925484305920792 * x * z * rest[6]
           + 0.5462742152960396 * (xx - yy) * rest[7];
        if (degree >= 3) {
            c += -0.5900435899266435 * y * (3.0 * xx - yy) * rest[8]
               + 2.890611442640554 * x * y * z * rest[9]
               - 0.4570457994644658 * y * (4.0 * zz - xx - yy) * rest[10]
               + 0.3731763325901154 * z * (2.0 * zz - 3.0 * xx - 3.0 * yy) * rest[11]
               - 0.4570457994644658 * x * (4.0 * zz - xx - yy) * rest[12]
               + 1.445305721320277 * z * (xx - yy) * rest[13]
               - 0.5900435899266435 * x * (xx - 3.0 * yy) * rest[14];
        }
    }
    return c;
}

vec3 splat_colour(vec3 pos, vec3 dc, vec3 rest[15]) {
    vec3 c = dc;
    if (u_sh_degree > 0) {
        c += sh_colour(normalize(pos - u_camera), rest, u_sh_degree);
    }
    c = max(c, 0.0);
    if (u_to_linear == 1) {
        c = srgb_to_linear(c);
    }
    return c;
}

// Screen footprint of one splat. cov_a = (xx, xy, xz), cov_b = (yy, yz, zz) of the 3D
// covariance. On success: r0 = (centre px, axis 1 px), r1 = (axis 2 px, half-extents in
// sigmas along both axes); `depth` is camera z. False when culled.
bool splat_footprint(vec3 pos, vec3 cov_a, vec3 cov_b, float opacity,
                     out vec4 r0, out vec4 r1, out float depth) {
    r0 = vec4(0.0);
    r1 = vec4(0.0);
    vec4 t = u_view * vec4(pos, 1.0);
    depth = t.z;
    if (!(t.z >= u_depth_range.x && t.z <= u_depth_range.y) || !(opacity >= ALPHA_MIN)) {
        return false;
    }
    float inv_z = 1.0 / t.z;
    vec2 centre = u_intr.xy * t.xy * inv_z + u_intr.zw;
    // the Jacobian is taken at a point clamped to 1.3x the frustum so that splats far off to
    // the side (or very near) do not blow up
    vec2 txy = clamp(t.xy * inv_z, -u_limit, u_limit) * t.z;
    vec3 j0 = vec3(u_intr.x * inv_z, 0.0, -u_intr.x * txy.x * inv_z * inv_z);
    vec3 j1 = vec3(0.0, u_intr.y * inv_z, -u_intr.y * txy.y * inv_z * inv_z);
    mat3 w = mat3(u_view);
    vec3 t0 = j0 * w;  // rows of J * W
    vec3 t1 = j1 * w;
    mat3 s = mat3(cov_a.x, cov_a.y, cov_a.z, cov_a.y, cov_b.x, cov_b.y, cov_a.z, cov_b.y, cov_b.z);
    vec3 st0 = s * t0;
    float a = dot(t0, st0) + u_dilation;
    float b = dot(t1, st0);
    float c = dot(t1, s * t1) + u_dilation;
    float det = a * c - b * b;
    if (!(det > 0.0)) {
        return false;
    }
    float mid = 0.5 * (a + c);
    float l1 = mid + sqrt(max(0.25 * (a - c) * (a - c) + b * b, 0.0));
    float l2 = det / l1;
    if (!(l2 > 0.0)) {
        return false;
    }
    vec2 v1 = vec2(b, l1 - a);
    vec2 v2 = vec2(l1 - c, b);
    vec2 e1 = dot(v1, v1) > dot(v2, v2) ? v1 : v2;
    float n = length(e1);
    e1 = n > 0.0 ? e1 / n : vec2(1.0, 0.0);
    vec2 e2 = vec2(-e1.y, e1.x);
    float sigma1 = sqrt(l1), sigma2 = sqrt(l2);
    // beyond k sigmas the fragment alpha is below 1/255 anyway (or past 3 sigma)
    float k = min(3.0, sqrt(max(2.0 * log(255.0 * opacity), 0.0)));
    float ext1 = min(k * sigma1, u_max_radius);
    float ext2 = min(k * sigma2, u_max_radius);
    vec2 half_box = abs(e1) * ext1 + abs(e2) * ext2;
    if (centre.x + half_box.x < 0.0 || centre.x - half_box.x > u_size.x ||
        centre.y + half_box.y < 0.0 || centre.y - half_box.y > u_size.y || k <= 0.0) {
        return false;
    }
    r0 = vec4(centre, e1 * ext1);
    r1 = vec4(e2 * ext2, ext1 / sigma1, ext2 / sigma2);
    return true;
}

#if defined COMPUTE_SHADER
layout(local_size_x = 256) in;

struct Splat {
    vec4 pos_opacity;
    vec4 cov_a;       // xx, xy, xz, yy
    vec4 cov_b;       // yz, zz, r, g
    vec4 colour_b;    // b, -, -, -
};
struct Record {
    vec4 r0;
    vec4 r1;
    vec4 colour;      // rgb (blend space), opacity
};

layout(std430, binding = 0) readonly buffer Splats { Splat splats[]; };
layout(std430, binding = 1) readonly buffer Sh { float sh[]; };
layout(std430, binding = 2) writeonly buffer Keys { uint keys[]; };
layout(std430, binding = 3) writeonly buffer Values { uint values[]; };
layout(std430, binding = 4) writeonly buffer Records { Record records[]; };
layout(std430, binding = 5) buffer Indirect { uint indirect[]; };  // count, instances, 0, 0

uniform uint u_count;
uniform int u_sh_count;  // SH coefficients per splat (without DC)

void main() {
    uint i = gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u + gl_GlobalInvocationID.x;
    if (i >= u_count) {
        return;
    }
    Splat sp = splats[i];
    vec4 r0, r1;
    float depth;
    bool visible = splat_footprint(sp.pos_opacity.xyz, sp.cov_a.xyz,
                                   vec3(sp.cov_a.w, sp.cov_b.xy), sp.pos_opacity.w,
                                   r0, r1, depth);
    values[i] = i;
    if (!visible) {
        keys[i] = 0xFFFFFFFFu;  // sorts last, past the drawn count
        return;
    }
    vec3 rest[15];
    for (int k = 0; k < 15; ++k) {
        rest[k] = vec3(0.0);
    }
    uint base = i * uint(u_sh_count) * 3u;
    for (int k = 0; k < u_sh_count; ++k) {
        uint o = base + uint(k) * 3u;
        rest[k] = vec3(sh[o], sh[o + 1u], sh[o + 2u]);
    }
    vec3 colour = splat_colour(sp.pos_opacity.xyz, vec3(sp.cov_b.zw, sp.colour_b.x), rest);
    // positive floats order like their bit patterns; inverted so that ascending keys run
    // back to front
    keys[i] = ~floatBitsToUint(depth);
    records[i] = Record(r0, r1, vec4(colour, sp.pos_opacity.w));
    atomicAdd(indirect[1], 1u);
}
#endif

#if defined VERTEX_SHADER
out vec2 v_sigma;    // position in sigmas along the splat's axes
out vec4 v_colour;   // rgb, opacity

#if defined PROJECT_IN_VERTEX
uniform sampler2D u_splats;  // RGBA32F, 4 texels per splat (the Splat layout above)
uniform sampler2D u_sh;      // RGB32F, u_sh_count texels per splat
uniform int u_sh_count;
uniform int u_sh_per_row;    // splats per row of u_sh
in uint a_index;             // splat drawn by this instance (back-to-front order from numpy)

void main() {
    int i = int(a_index);
    ivec2 at = ivec2((i & 1023) * 4, i >> 10);
    vec4 p = texelFetch(u_splats, at, 0);
    vec4 ca = texelFetch(u_splats, at + ivec2(1, 0), 0);
    vec4 cb = texelFetch(u_splats, at + ivec2(2, 0), 0);
    vec4 cc = texelFetch(u_splats, at + ivec2(3, 0), 0);
    vec4 r0, r1;
    float depth;
    if (!splat_footprint(p.xyz, ca.xyz, vec3(ca.w, cb.xy), p.w, r0, r1, depth)) {
        gl_Position = vec4(2.0, 2.0, 2.0, 1.0);  // outside the clip volume: nothing drawn
        v_sigma = vec2(0.0);
        v_colour = vec4(0.0);
        return;
    }
    vec3 rest[15];
    for (int k = 0; k < 15; ++k) {
        rest[k] = vec3(0.0);
    }
    if (u_sh_degree > 0) {
        ivec2 sh_at = ivec2((i % u_sh_per_row) * u_sh_count, i / u_sh_per_row);
        for (int k = 0; k < u_sh_count; ++k) {
            rest[k] = texelFetch(u_sh, sh_at + ivec2(k, 0), 0).rgb;
        }
    }
    vec3 colour = splat_colour(p.xyz, vec3(cb.zw, cc.x), rest);
#else
in vec4 a_r0;      // centre px, axis 1 px
in vec4 a_r1;      // axis 2 px, half-extents in sigmas
in vec4 a_colour;  // rgb, opacity

void main() {
    vec4 r0 = a_r0;
    vec4 r1 = a_r1;
    vec3 colour = a_colour.rgb;
    vec4 p = vec4(0.0, 0.0, 0.0, a_colour.a);
#endif
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1)) * 2.0 - 1.0;
    vec2 px = r0.xy + corner.x * r0.zw + corner.y * r1.xy;
    // pixel y grows downward and lands in framebuffer row y: texture row 0 is the image top
    gl_Position = vec4(px / u_size * 2.0 - 1.0, 0.0, 1.0);
    v_sigma = corner * r1.zw;
    v_colour = vec4(colour, p.w);
}
#endif

#if defined FRAGMENT_SHADER
in vec2 v_sigma;
in vec4 v_colour;
out vec4 f_colour;

void main() {
    float r2 = dot(v_sigma, v_sigma);
    if (r2 > 9.0) {
        discard;
    }
    float alpha = min(0.99, v_colour.a * exp(-0.5 * r2));
    if (alpha < ALPHA_MIN) {
        discard;
    }
    f_colour = vec4(v_colour.rgb * alpha, alpha);
}
#endif
