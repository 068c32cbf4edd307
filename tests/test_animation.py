"""pav.animation / pav.interpolate against closed forms: keys hit exactly, linear midpoints are means,
Catmull-Rom equals the classic Hermite form, the monotone variant never overshoots, slerp keeps unit norm
and the closed-form angle, the camera moves on the sphere, weights sum to 1; JSON round trip and errors."""
import json
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from pav.animation import (Animation, Keyframe, OrbitView, from_json, load_animation, mirror, save_animation,
                           to_json)
from pav.interpolate import axis_angle_to_quat, catmull_rom, monotone, quat_to_axis_angle, slerp_quat


def key(t, e=(0.0, 0.0), pose=((0, 0, 0), (0, 0, 0)), yaw=0.0, pitch=0.0, radius=0.7, fov=20.0, w=(1.0, 0.0),
        target=(0.0, 0.0, 0.0)):
    w = np.array(w, float)
    return Keyframe(t, np.array(e, float), np.array(pose, float), OrbitView(np.array(target, float), radius, yaw,
                                                                              pitch, fov), w / w.sum())


def anim(*keys, **modes):
    a = Animation(["jawOpen", "eyeBlinkLeft"], ["global", "jaw"], ["beard", "short"], fps=10)
    for k in keys:
        a.add(k)
    a.interpolation.update(modes)
    return a


@pytest.mark.parametrize("mode", ["linear", "catmull-rom", "monotone"])
def test_keyframes_are_hit_exactly_in_every_mode(mode):
    keys = [key(0.0, (0.1, 0.9), ((0.1, 0.2, 0.3), (0, 0, 0.4)), 10, 5, 0.6, 18, (1, 0)),
            key(0.7, (0.8, 0.0), ((0.0, -0.5, 0.1), (0.2, 0, 0)), -40, -10, 0.9, 30, (0.3, 0.7)),
            key(1.5, (0.2, 0.4), ((0.3, 0.0, 0.0), (0, 0.1, 0)), 170, 20, 0.8, 25, (0, 1)),
            key(2.0, (0.5, 0.5), ((0, 0, 0), (0, 0, 0)), -170, 0, 0.7, 20, (0.5, 0.5))]
    a = anim(*keys, expression=mode, pose="linear" if mode == "monotone" else mode,
             camera="linear" if mode == "monotone" else mode, appearance="linear" if mode == "catmull-rom" else mode)
    for k in keys:
        for t in (k.time, k.time + 1e-9, k.time - 1e-9):  # on the key, and converging to it from both sides
            s = a.sample(t)
            tol = 0 if t == k.time else 1e-6
            assert np.abs(s.expression - k.expression).max() <= tol
            assert np.abs(s.pose - k.pose).max() <= tol + 1e-12
            assert np.abs(s.appearance - k.appearance).max() <= tol
            assert (s.camera.radius, s.camera.fov_deg) == pytest.approx((k.camera.radius, k.camera.fov_deg), abs=tol)
            dyaw = (s.camera.yaw_deg - k.camera.yaw_deg + 180) % 360 - 180
            assert abs(dyaw) <= 1e-4 and s.camera.pitch_deg == pytest.approx(k.camera.pitch_deg, abs=1e-4)


def test_linear_midpoint_is_the_mean_and_weights_sum_to_one():
    a = anim(key(0, (0.2, 0.0), w=(1, 0)), key(2, (0.6, -0.4), w=(0.2, 0.8)), expression="linear")
    s = a.sample(1.0)
    assert s.expression.tolist() == pytest.approx([0.4, -0.2], abs=1e-12)
    assert s.appearance.tolist() == pytest.approx([0.6, 0.4], abs=1e-12)
    for t in np.linspace(0, 2, 23):
        assert a.sample(t).appearance.sum() == pytest.approx(1.0, abs=1e-12)
    b = anim(key(0, w=(1, 0)), key(1, w=(0, 1)), key(2, w=(1, 0)), key(3, w=(0.5, 0.5)), appearance="monotone")
    for t in np.linspace(0, 3, 31):
        w = b.sample(t).appearance
        assert w.sum() == pytest.approx(1.0, abs=1e-12) and (w >= 0).all()
    # three appearances, uneven times: the monotone blend alone would not sum to 1 (normalised after)
    c = Animation(["e"], ["global"], ["a", "b", "c"], interpolation={"appearance": "monotone"} | {
        "expression": "linear", "pose": "linear", "camera": "linear"})
    for t, w in ((0, (1, 0, 0)), (0.3, (0.2, 0.5, 0.3)), (1.5, (0, 0, 1)), (1.7, (0.6, 0.4, 0))):
        c.add(Keyframe(t, np.zeros(1), np.zeros((1, 3)), OrbitView(np.zeros(3), 0.7), np.array(w, float)))
    for t in np.linspace(0, 1.7, 35):
        w = c.sample(t).appearance
        assert w.sum() == pytest.approx(1.0, abs=1e-12) and (w >= 0).all()


def test_catmull_rom_equals_the_classic_hermite_form_on_even_keys():
    times = np.arange(5.0)
    y = np.array([0.0, 1.0, 0.3, 0.9, 0.2])
    for i in range(1, 3):
        m1, m2 = (y[i + 1] - y[i - 1]) / 2, (y[i + 2] - y[i]) / 2  # classic tangents
        for s in (0.25, 0.5, 0.8):
            h = ((2 * s ** 3 - 3 * s ** 2 + 1) * y[i] + (s ** 3 - 2 * s ** 2 + s) * m1 + (-2 * s ** 3 + 3 * s ** 2) * y[i + 1]
                 + (s ** 3 - s ** 2) * m2)
            assert catmull_rom(y, times, i, i + s) == pytest.approx(h, abs=1e-12)


def test_monotone_never_overshoots_where_catmull_rom_does():
    times = np.array([0.0, 1.0, 2.0, 3.0, 3.5, 5.0])
    y = np.array([0.0, 0.0, 1.0, 1.0, 0.2, 0.2])
    grid = [(i, t) for i in range(len(times) - 1) for t in np.linspace(times[i], times[i + 1], 41)]
    cr = np.array([catmull_rom(y, times, i, t) for i, t in grid])
    mono = np.array([monotone(y, times, i, t) for i, t in grid])
    assert cr.max() > 1.05 or cr.min() < -0.05  # the plain spline overshoots on this data
    for (i, t), v in zip(grid, mono):
        assert min(y[i], y[i + 1]) - 1e-12 <= v <= max(y[i], y[i + 1]) + 1e-12
    # monotone on a monotone segment: non-decreasing between 0 and 1
    seg = [monotone(y, times, 1, t) for t in np.linspace(1, 2, 50)]
    assert all(b >= a - 1e-12 for a, b in zip(seg, seg[1:]))


def test_slerp_keeps_unit_norm_and_the_closed_form_angle():
    axis = np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    theta = 2.2
    a, b = axis_angle_to_quat(np.zeros(3)), axis_angle_to_quat(theta * axis)
    for u in np.linspace(0, 1, 11):
        q = slerp_quat(a, b, u)
        assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-12)
        assert quat_to_axis_angle(q) == pytest.approx(u * theta * axis, abs=1e-12)  # angle uθ about the axis
    # the short way: +170° and −170° about z meet at 180°, not at 0°
    q = slerp_quat(axis_angle_to_quat(np.radians([0, 0, 170.0])), axis_angle_to_quat(np.radians([0, 0, -170.0])), 0.5)
    assert abs(quat_to_axis_angle(q)[2]) == pytest.approx(math.pi, abs=1e-9)
    # between two general rotations: scipy's Slerp as an independent reference
    r0, r1 = np.array([0.3, -1.2, 0.4]), np.array([-0.9, 0.5, 1.1])
    ref = Slerp([0, 1], Rotation.from_rotvec([r0, r1]))
    for u in (0.1, 0.5, 0.77):
        mine = Rotation.from_rotvec(quat_to_axis_angle(slerp_quat(axis_angle_to_quat(r0), axis_angle_to_quat(r1), u)))
        assert (mine.inv() * ref([u])[0]).magnitude() < 1e-10


def test_pose_interpolates_on_rotations_and_spline_stays_unit():
    a = anim(key(0, pose=((0, 0, 0), (0, 0, 0))), key(1, pose=((0, 0, 2.0), (0, 0, 0))),
             key(2, pose=((0, 2.0, 0), (1.0, 0, 0))), pose="linear")
    s = a.sample(0.25)
    assert s.pose[0] == pytest.approx([0, 0, 0.5], abs=1e-12)  # linear: a quarter of the angle, same axis
    a.interpolation["pose"] = "catmull-rom"
    for t in np.linspace(0, 2, 17):
        q = axis_angle_to_quat(a.sample(t).pose)
        assert np.linalg.norm(q, axis=-1) == pytest.approx([1.0, 1.0], abs=1e-12)


def test_camera_moves_on_the_sphere_the_short_way():
    a = anim(key(0, yaw=170, radius=0.6), key(1, yaw=-170, radius=0.6), camera="linear")
    s = a.sample(0.5)
    assert abs(abs(s.camera.yaw_deg) - 180) < 1e-9 and s.camera.radius == pytest.approx(0.6)  # through the back
    b = anim(key(0, yaw=0, pitch=0), key(1, yaw=90, pitch=0), camera="linear")
    assert b.sample(1 / 3).camera.yaw_deg == pytest.approx(30.0, abs=1e-9)  # constant angular speed
    c = anim(key(0, yaw=-30, pitch=10, radius=0.5), key(1, yaw=20, pitch=-5, radius=0.9),
             key(2, yaw=60, pitch=30, radius=0.7), key(3, yaw=0, pitch=0, radius=0.8))
    for t in np.linspace(0, 3, 31):
        cam = c.sample(t).camera
        eye = cam.camera(64, 64).center.double().numpy()
        assert np.linalg.norm(eye - cam.target) == pytest.approx(cam.radius, abs=1e-5)
        assert 0.5 - 1e-12 <= cam.radius <= 0.9 + 1e-12  # monotone radius never leaves the keys' range


def test_editing_add_move_duplicate_remove_keeps_time_order():
    a = anim(key(0.0, (0.1, 0)), key(1.0, (0.2, 0)), key(2.0, (0.3, 0)))
    assert a.move(0, 1.5) == 1 and [k.time for k in a.keyframes] == [1.0, 1.5, 2.0]
    assert a.duplicate(2, 3.0) == 3 and a.keyframes[3].expression[0] == 0.3
    a.keyframes[3].expression[0] = 0.9
    assert a.keyframes[2].expression[0] == 0.3  # a real copy
    assert a.add(key(1.0, (0.7, 0))) == 0 and len(a.keyframes) == 4  # same time: replaced
    a.remove(0)
    assert [k.time for k in a.keyframes] == [1.5, 2.0, 3.0]
    assert a.frame_count == 30 and a.frame_times()[-1] == pytest.approx(2.9)


def test_mirror_swaps_sides_and_reflects_rotations():
    names, joints = ["eyeBlinkLeft", "eyeBlinkRight", "jawOpen"], ["global", "left_eye", "right_eye"]
    pose = np.array([[0.1, 0.4, -0.2], [0.3, 0.0, 0.0], [0.0, 0.2, 0.0]])
    e, p = mirror(np.array([0.9, 0.1, 0.5]), pose, names, joints)
    assert e.tolist() == [0.1, 0.9, 0.5]
    reflect = np.diag([-1.0, 1.0, 1.0])
    for j, src in ((0, 0), (1, 2), (2, 1)):  # R' = S R S with S the x-reflection, and left ↔ right
        expected = reflect @ Rotation.from_rotvec(pose[src]).as_matrix() @ reflect
        assert Rotation.from_rotvec(p[j]).as_matrix() == pytest.approx(expected, abs=1e-12)
    assert mirror(e, p, names, joints)[1] == pytest.approx(pose)  # twice is the identity


def test_json_round_trip_and_samples_equal(tmp_path):
    a = anim(key(0, (0.1, 0.5), ((0.1, 0, 0), (0, 0.2, 0)), 10, 5, w=(0.3, 0.7)), key(1.2, (0.9, 0), yaw=-20))
    a.duration, a.loop = 2.0, False
    save_animation(a, tmp_path / "a.json")
    b = load_animation(tmp_path / "a.json")
    assert (b.expression_names, b.joint_names, b.appearance_names) == (a.expression_names, a.joint_names,
                                                                       a.appearance_names)
    assert (b.fps, b.duration, b.loop, b.interpolation) == (a.fps, a.duration, a.loop, a.interpolation)
    for t in a.frame_times():
        sa, sb = a.sample(t), b.sample(t)
        assert np.abs(sa.expression - sb.expression).max() < 1e-12 and np.abs(sa.pose - sb.pose).max() < 1e-12
        assert sa.camera.yaw_deg == pytest.approx(sb.camera.yaw_deg, abs=1e-9)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("format"), "not a PAV animation"),
    (lambda d: d.update(keyframes=[]), "non-empty list"),
    (lambda d: d["keyframes"][0]["expression"].update(smile=1.0), "keyframes[0].expression: unknown name 'smile'"),
    (lambda d: d["keyframes"][1].update(time=0.0), "keyframes[1].time 0.0 repeats"),
    (lambda d: d["keyframes"][0]["pose"].update(jaw=[0, 1]), "keyframes[0].pose.jaw: expected [x, y, z]"),
    (lambda d: d["keyframes"][0]["camera"].update(radius=-1), "keyframes[0].camera.radius: -1 is outside"),
    (lambda d: d["keyframes"][0]["camera"].update(fov="wide"), "camera.fov: expected a finite number"),
    (lambda d: d["keyframes"][0].update(appearance={"beard": 0.0, "short": 0.0}), "positive sum"),
    (lambda d: d["interpolation"].update(pose="monotone"), "interpolation.pose = 'monotone': choose one of linear"),
    (lambda d: d.update(fps=0), "fps: 0 is outside"),
])
def test_bad_files_give_one_line_errors(tmp_path, change, message):
    d = to_json(anim(key(0), key(1)))
    change(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError) as err:
        load_animation(path, expression_names=["jawOpen", "eyeBlinkLeft"], joint_names=["global", "jaw"],
                       appearance_names=["beard", "short"])
    assert message in str(err.value) and "\n" not in str(err.value) and str(path) in str(err.value)


def test_trained_view_range_is_the_camera_angle_relative_to_the_head():
    """Cameras placed at known yaw/pitch about a head that is itself turned: the range is relative."""
    from types import SimpleNamespace

    import torch

    import pav
    from pav.camera import orbit
    from pav.view_range import into_range, outside, trained_view_range, view_angles

    head = pav.load_head_model("default")
    g = head.joint_names.index("global")
    turns = [(0.0, 30.0, 5.0), (20.0, -10.0, -8.0), (-15.0, 40.0, 12.0)]  # head yaw, camera yaw, camera pitch
    pose = torch.zeros(len(turns), head.n_joints, 3)
    c2w = []
    for n, (head_yaw, yaw, pitch) in enumerate(turns):
        pose[n, g, 1] = math.radians(head_yaw)  # the head turns about +y
        with torch.no_grad():
            v = head(pose=pose[n:n + 1]).vertices[0]
        centre = ((v.min(0).values + v.max(0).values) / 2).double()
        c2w.append(orbit(centre, 0.8, yaw + head_yaw, pitch).float())  # seen from the head: (yaw, pitch)
    data = SimpleNamespace(expression=torch.zeros(3, len(head.expression_names)), pose=pose,
                           translation=torch.zeros(3, 3), c2w=torch.stack(c2w))
    avatar = SimpleNamespace(head=head, deform=lambda e, p, t: head(expression=e, pose=p, translation=t).vertices)
    r = trained_view_range(avatar, data)
    assert r["yaw_deg"] == pytest.approx([-10.0, 40.0], abs=0.02)
    assert r["pitch_deg"] == pytest.approx([-8.0, 12.0], abs=0.02)
    assert view_angles(np.array([[0.0, 0.5, 0.0]]), np.zeros((1, 3)), np.zeros((1, 3))).tolist() == [[0.0, 90.0]]
    assert not outside(44.0, 0.0, r) and outside(60.0, 0.0, r) and not outside(90.0, 0.0, None)
    assert into_range(60.0, -30.0, r) == (40.0, -8.0)
    # 'back into range' with a turned head: the orbit angles it picks are seen from the head as asked
    from pav.view_range import world_angles

    rotation = np.array([0.1, 0.4, -0.2])
    yaw, pitch = world_angles(25.0, 10.0, rotation)
    direction = OrbitView(np.zeros(3), 1.0, yaw, pitch).direction()
    assert view_angles(direction[None], np.zeros((1, 3)), rotation[None])[0] == pytest.approx([25.0, 10.0], abs=1e-9)
