"""Tracking inputs for `python -m pav track` (issue 8): from a video to cropped frames with landmarks and masks.

- `video.read_video` → `Video`: frames of a video file or an image folder, evenly subsampled;
- `landmarks.FaceLandmarker`: mediapipe face mesh (468 points, PAV pixel convention) and foreground mask,
  plus `face_region_mask` (face oval ∩ foreground);
- `crop.stable_crop` / `crop.crop_video`: one square head box for a whole video, applied to frames and
  landmarks;
- `build_embedding` (`python -m pav.track.build_embedding`): the mediapipe-468 landmark embedding of the
  built-in head model (`HeadModel.landmark_faces` / `landmark_bary`).

mediapipe is imported only inside `landmarks` at first use, so `import pav` stays light.
"""
