#version 330 core
// The rendered picture on screen while the view moves: reprojected to the current camera, upsampled by the
// texture unit's bilinear filter (GL_LINEAR, clamped to the edge). Twin: viewer/upsample.py (resample,
// edge_aware=False); tests/test_gui.py compares the two.
in vec2 uv;                    // 0..1 over the picture, y = 0 at its top row
out vec4 color;
uniform sampler2D image;
uniform mat3 reprojection;     // current-camera image pixels -> rendered image pixels (centres at +0.5)

void main() {
    vec2 size = vec2(textureSize(image, 0));
    vec3 p = reprojection * vec3(uv * size, 1.0);
    if (p.z <= 1e-6) {
        color = vec4(texelFetch(image, ivec2(0), 0).rgb, 1.0);
        return;
    }
    color = vec4(texture(image, p.xy / (p.z * size)).rgb, 1.0);
}
