#version 330 core
// The rendered picture on screen: reprojected to the current camera, then upsampled edge-aware (20 texel
// reads per pixel: ~10 ms of llvmpipe CPU per frame at 600x600, so the app uses display_fast.frag while the
// view moves). Twin: viewer/upsample.py (resample); tests/test_gui.py compares the two.
in vec2 uv;                    // 0..1 over the picture, y = 0 at its top row
out vec4 color;
uniform sampler2D image;
uniform mat3 reprojection;     // current-camera image pixels -> rendered image pixels (centres at +0.5)

vec3 texel(ivec2 p, ivec2 size) {
    return texelFetch(image, clamp(p, ivec2(0), size - 1), 0).rgb;
}

vec4 catmull_rom(float t) {
    float t2 = t * t, t3 = t2 * t;
    return vec4(-0.5 * t3 + t2 - 0.5 * t, 1.5 * t3 - 2.5 * t2 + 1.0, -1.5 * t3 + 2.0 * t2 + 0.5 * t,
                0.5 * t3 - 0.5 * t2);
}

void main() {
    ivec2 size = textureSize(image, 0);
    vec3 p = reprojection * vec3(uv * vec2(size), 1.0);
    if (p.z <= 1e-6) {
        color = vec4(texel(ivec2(0), size), 1.0);
        return;
    }
    vec2 f = p.xy / p.z - 0.5;  // texel-index space: texel j's centre at j
    vec2 b = floor(f);
    vec2 t = f - b;
    ivec2 base = ivec2(b);
    vec3 c00 = texel(base, size), c10 = texel(base + ivec2(1, 0), size);
    vec3 c01 = texel(base + ivec2(0, 1), size), c11 = texel(base + ivec2(1, 1), size);
    vec4 wx = catmull_rom(t.x), wy = catmull_rom(t.y);
    vec3 sum = vec3(0.0);
    for (int j = 0; j < 4; ++j) {
        vec3 row = vec3(0.0);
        for (int i = 0; i < 4; ++i)
            row += wx[i] * texel(base + ivec2(i - 1, j - 1), size);
        sum += wy[j] * row;
    }
    vec3 lo = min(min(c00, c10), min(c01, c11)), hi = max(max(c00, c10), max(c01, c11));
    color = vec4(clamp(sum, lo, hi), 1.0);
}
