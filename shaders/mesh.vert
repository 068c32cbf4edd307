#version 330 core
// The deformed head mesh, head-space positions; projection built from OpenCV intrinsics
// (pav.camera.opengl_projection) and the view from pav.camera.opencv_to_opengl.
layout(location = 0) in vec3 position;
uniform mat4 view_projection;
void main() {
    gl_Position = view_projection * vec4(position, 1.0);
}
