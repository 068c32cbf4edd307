"""PAV's desktop app: the only package that imports glfw, OpenGL and imgui_bundle."""
