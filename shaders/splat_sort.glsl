// Stable LSD radix sort of (uint key, uint value) pairs on full 32-bit keys: 4 passes of
// 8-bit digits, each pass three dispatches (selected by the STAGE define):
//   1 HISTOGRAM: each block of BLOCK keys counts its digits -> hist[digit * blocks + block]
//   2 SCAN:      one workgroup per digit turns its row into exclusive prefixes over the
//                blocks, and writes the digit's total
//   3 SCATTER:   each block ranks its keys (stable: by position) and writes them to
//                digit start + earlier blocks + rank
// plus 4 GATHER: copy the splat records into sorted order for drawing.
// Ranking inside a tile of 256 keys uses one 256-bit mask per digit in shared memory: a key's
// rank among equal digits is the number of set bits before its own (no subgroup extensions).

#if defined COMPUTE_SHADER
const uint TILES = 16u;           // tiles of 256 keys per block
const uint BLOCK = 256u * TILES;  // keys per block (must match SplatRenderer / GpuRadixSort)

uniform uint u_count;       // number of pairs
uniform uint u_shift;       // 0, 8, 16, 24
uniform uint u_blocks;      // ceil(u_count / BLOCK)

#if STAGE == 1
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer KeysIn { uint keys_in[]; };
layout(std430, binding = 2) writeonly buffer Hist { uint hist[]; };
shared uint s_count[256];

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint block = gl_WorkGroupID.x;
    s_count[tid] = 0u;
    barrier();
    uint base = block * BLOCK + tid;
    for (uint t = 0u; t < TILES; ++t) {
        uint i = base + t * 256u;
        if (i < u_count) {
            atomicAdd(s_count[(keys_in[i] >> u_shift) & 255u], 1u);
        }
    }
    barrier();
    hist[tid * u_blocks + block] = s_count[tid];
}
#endif

#if STAGE == 2
// small groups: a row is short (one entry per 4096 keys), and barriers are costly on
// software GL
const uint SCAN = 64u;
layout(local_size_x = 64) in;
layout(std430, binding = 2) buffer Hist { uint hist[]; };
layout(std430, binding = 3) writeonly buffer Totals { uint totals[]; };
shared uint s_sum[SCAN];

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint digit = gl_WorkGroupID.x;
    uint per = (u_blocks + SCAN - 1u) / SCAN;
    uint first = min(tid * per, u_blocks);
    uint last = min(first + per, u_blocks);
    uint row = digit * u_blocks;
    uint sum = 0u;
    for (uint b = first; b < last; ++b) {
        sum += hist[row + b];
    }
    s_sum[tid] = sum;
    barrier();
    // inclusive Hillis-Steele scan of the partial sums
    for (uint stride = 1u; stride < SCAN; stride <<= 1) {
        uint add = tid >= stride ? s_sum[tid - stride] : 0u;
        barrier();
        s_sum[tid] += add;
        barrier();
    }
    uint running = s_sum[tid] - sum;
    for (uint b = first; b < last; ++b) {
        uint c = hist[row + b];
        hist[row + b] = running;
        running += c;
    }
    if (tid == SCAN - 1u) {
        totals[digit] = s_sum[SCAN - 1u];
    }
}
#endif

#if STAGE == 3
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer KeysIn { uint keys_in[]; };
layout(std430, binding = 1) readonly buffer ValuesIn { uint values_in[]; };
layout(std430, binding = 2) readonly buffer Hist { uint hist[]; };
layout(std430, binding = 3) readonly buffer Totals { uint totals[]; };
layout(std430, binding = 4) writeonly buffer KeysOut { uint keys_out[]; };
layout(std430, binding = 5) writeonly buffer ValuesOut { uint values_out[]; };
shared uint s_offset[256];
shared uint s_scan[256];
shared uint s_mask[256 * 8];

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint block = gl_WorkGroupID.x;
    uint total = totals[tid];
    s_scan[tid] = total;
    for (uint m = 0u; m < 8u; ++m) {
        s_mask[tid * 8u + m] = 0u;
    }
    barrier();
    for (uint stride = 1u; stride < 256u; stride <<= 1) {
        uint add = tid >= stride ? s_scan[tid - stride] : 0u;
        barrier();
        s_scan[tid] += add;
        barrier();
    }
    // where this block's keys with digit `tid` start in the output
    s_offset[tid] = s_scan[tid] - total + hist[tid * u_blocks + block];
    barrier();

    uint word = tid >> 5;
    uint bit = 1u << (tid & 31u);
    for (uint t = 0u; t < TILES; ++t) {
        if (block * BLOCK + t * 256u >= u_count) {
            break;  // the same for the whole group, so barriers stay uniform
        }
        uint i = block * BLOCK + t * 256u + tid;
        bool valid = i < u_count;
        uint key = 0u;
        uint digit = 0u;
        if (valid) {
            key = keys_in[i];
            digit = (key >> u_shift) & 255u;
            atomicOr(s_mask[digit * 8u + word], bit);
        }
        barrier();
        if (valid) {
            uint rank = uint(bitCount(s_mask[digit * 8u + word] & (bit - 1u)));
            for (uint m = 0u; m < word; ++m) {
                rank += uint(bitCount(s_mask[digit * 8u + m]));
            }
            uint dst = s_offset[digit] + rank;
            keys_out[dst] = key;
            values_out[dst] = values_in[i];
        }
        barrier();
        uint count = 0u;
        for (uint m = 0u; m < 8u; ++m) {
            count += uint(bitCount(s_mask[tid * 8u + m]));
            s_mask[tid * 8u + m] = 0u;
        }
        s_offset[tid] += count;
        barrier();
    }
}
#endif

#if STAGE == 4
layout(local_size_x = 256) in;
struct Record {
    vec4 r0;
    vec4 r1;
    vec4 colour;
};
layout(std430, binding = 0) readonly buffer ValuesIn { uint values_in[]; };
layout(std430, binding = 1) readonly buffer Records { Record records[]; };
layout(std430, binding = 2) writeonly buffer Drawn { Record drawn[]; };
layout(std430, binding = 3) readonly buffer Indirect { uint indirect[]; };

void main() {
    uint i = gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u + gl_GlobalInvocationID.x;
    if (i >= indirect[1]) {
        return;
    }
    drawn[i] = records[values_in[i]];
}
#endif
#endif
