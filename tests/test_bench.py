"""`python -m pav bench` prints only what it measured as measured: the table's labels and the grids it times."""
import re
from pathlib import Path

from pav import bench
from pav.config import preset


def _results(checkpoint_source):
    render = {f"{m}_{s}": {"ms": 1.0, "fps": 1.0, "samples_per_s": 1e6}
              for s in (96, 128, 256) for m in ("preview", "final")}
    render.update(parameters=10, checkpoint_mb=1.0, peak_rss_mb=1,
                  preview_psnr_db={6: 29.57, 8: 34.09, 12: 37.82, 24: 47.5},
                  checkpoint_history={"minutes_to_26db": 4.5, "minutes_to_28db": 9.0, "best_probe_psnr": 28.58,
                                      "source": checkpoint_source})
    grid = {"params": 5, "forward_samples_per_s": 1e6, "forward_backward_samples_per_s": 1e6}
    return {"render": render, "field": {"forward_samples_per_s": 1e6, "forward_backward_samples_per_s": 1e6,
                                        "mlp_d_gflops": 1, "matmul_gflops": 2, "mlp_efficiency": 0.5},
            "geometry": {"threads": 2}, "hashgrid": {"configs": {"cpu": grid}},
            "nearest": {"points": 50000, "queries_per_s": {"fcpw": 1.9e5, "warp": 2.5e5}},
            "nearest_choice": {"cpu": {"name": "warp", "reason": "warp 1.19.0, the fastest measured"}},
            "train": {"steps_per_s": 4.0, "field_samples_per_s": 2e5, "peak_rss_mb": 700}}


def test_stored_history_is_labelled_not_measured_and_has_no_target():
    text = bench.format_table(_results("the demo checkpoint's training history (2026-11-24)"))
    table, note = text.split("\n\n")
    width = table.splitlines()[0].index("measured")
    rows = {line[:width].strip(): line[width:].strip() for line in table.splitlines()}
    assert rows["preview fidelity 128² vs 64 samples/ray"] == "6: 29.57 dB, 8: 34.09 dB, 12: 37.82 dB, 24: 47.5 dB"
    assert rows["nearest triangle per backend (50k queries)"] == "warp 0.25, fcpw 0.19 M queries/s"
    assert rows["nearest-triangle backend on cpu"] == "warp: warp 1.19.0, the fastest measured"
    assert not any("dB" in k or "dB" in v for k, v in rows.items() if not k.startswith("preview fidelity"))
    assert "15 min" not in text
    assert note == ("Not measured by this run, read from the demo checkpoint's training history (2026-11-24): its "
                    "training reached a 26 dB test probe at 4.5 min and 28 dB at 9.0 min (best probe 28.58 dB).")


def test_hash_grid_rows_time_the_presets_grids():
    configs = bench.hashgrid_configs()
    assert configs["cpu"] == preset("cpu")[0].hashgrid and configs["paper"] == preset("paper")[0].hashgrid
    assert configs["paper_T14"].log2_hashmap_size == 14


def test_checkpoint_history_reads_the_first_probe_over_each_target(tmp_path):
    class Avatar:
        info = {"history": [{"seconds": 60, "test_psnr": 25.7}, {"seconds": 150, "test_psnr": 26.2},
                            {"seconds": 200, "test_psnr": None}, {"seconds": 300, "test_psnr": 25.9}]}

    ckpt = tmp_path / "mine.pav"
    ckpt.write_bytes(b"x")
    h = bench.checkpoint_history(Avatar(), ckpt)
    assert (h["minutes_to_26db"], h["minutes_to_28db"], h["best_probe_psnr"]) == (2.5, None, 26.2)
    assert h["source"].startswith("mine.pav's training history (file written 20")
    assert bench.checkpoint_history(Avatar(), bench.DEMO)["source"] == \
        f"the demo checkpoint's training history ({bench.DEMO_TRAINED})"


def test_chosen_backends_names_the_policy_s_choice():
    from pav import backends
    from pav.bench import chosen_backends

    got = chosen_backends("cpu")
    want = backends.nearest_backend("cpu")
    assert got["nearest_triangle"] == {"name": want.name, "reason": want.reason}
    grid = backends.hashgrid_cpu_backend()
    assert got["hashgrid"] == {"name": grid.name, "reason": grid.reason} and got["device"]["name"] == "cpu"


def test_goals_and_machine_normalised_figures_beside_each_figure():
    r = _results("x")
    r["render"]["preview_128"]["ms"] = 50.0
    r["render"]["final_512"] = {"ms": 2500.0, "fps": 0.4, "samples_per_s": 1e6}
    lines = {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line) for line in
                                               bench.format_table(r).split("\n\n")[0].splitlines())}
    assert lines["render preview 128²"][1:] == ["≤ 40 ms (not met)", "0.1 GFLOP"]  # 50 ms × 2 GFLOP/s
    assert lines["render final 512²"][1:] == ["≤ 3000 ms (met)", "5.0 GFLOP"]
    assert lines["render preview 256²"][1:] == ["≤ 100 ms (met)", "0.0 GFLOP"]
    assert lines["training"][1:] == ["≥ 7 steps/s (not met)", "2000.0 steps/TFLOP"]  # 4 steps/s ÷ 2 GFLOP/s
    assert "render preview 512²" not in lines
    assert bench.goal("render final 256²", 1000.0) == "≤ 1000 ms (met)" and bench.goal("field forward", 1.0) == ""
