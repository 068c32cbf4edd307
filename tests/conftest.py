"""Shared fixtures: a tiny FLAME-layout rig (random but well-formed), made here because no FLAME data
may exist on these machines."""
import numpy as np
import pytest
import torch

torch.set_num_threads(2)


def make_flame_arrays(seed: int = 0, n_vertices: int = 40, n_shape: int = 300, n_expr: int = 100) -> dict:
    """FLAME-layout arrays: v_template (V,3), f (F,3), shapedirs (V,3,n_shape+n_expr), posedirs (V,3,36),
    J_regressor (5,V) dense, kintree_table (2,5), weights (V,5)."""
    rng = np.random.default_rng(seed)
    V = n_vertices
    v = rng.normal(size=(V, 3)) * 0.08
    f = np.stack([np.arange(V - 2), np.arange(1, V - 1), np.arange(2, V)], 1)
    J_regressor = np.zeros((5, V))
    for j in range(5):
        ids = rng.choice(V, 6, replace=False)
        J_regressor[j, ids] = rng.dirichlet(np.ones(6))
    weights = rng.dirichlet(np.ones(5) * 0.5, size=V)
    return dict(v_template=v, f=f.astype(np.uint32),
                shapedirs=rng.normal(size=(V, 3, n_shape + n_expr)) * 1e-3,
                posedirs=rng.normal(size=(V, 3, 36)) * 1e-3,
                J_regressor=J_regressor,
                kintree_table=np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
                weights=weights)


@pytest.fixture
def flame_arrays():
    return make_flame_arrays()
