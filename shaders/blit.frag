#version 330 core
in vec2 uv;
out vec4 color;
uniform sampler2D image;
void main() {
    color = vec4(texture(image, uv).rgb, 1.0);
}
