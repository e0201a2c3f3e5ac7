import numpy as np
import pytest
import torch

from mdkit.motion import quaternion as Q


def _rand_q(n, seed=0):
    rng = np.random.default_rng(seed)
    return Q.qnormalize(rng.normal(size=(n, 4)))


def test_qrot_matches_matrix_and_numpy_torch_agree():
    q = _rand_q(64)
    v = np.random.default_rng(1).normal(size=(64, 3))
    ref = (Q.quaternion_to_matrix(q) @ v[..., None])[..., 0]
    np.testing.assert_allclose(Q.qrot(q, v), ref, atol=1e-12)
    out_t = Q.qrot(torch.from_numpy(q), torch.from_numpy(v))
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_allclose(out_t.numpy(), ref, atol=1e-12)


def test_qmul_composes_rotations_and_qinv_inverts():
    q, r = _rand_q(32, 2), _rand_q(32, 3)
    v = np.random.default_rng(4).normal(size=(32, 3))
    np.testing.assert_allclose(Q.qrot(Q.qmul(q, r), v), Q.qrot(q, Q.qrot(r, v)), atol=1e-12)
    np.testing.assert_allclose(Q.qrot(Q.qinv(q), Q.qrot(q, v)), v, atol=1e-12)


def test_matrix_quaternion_round_trip_and_cont6d():
    q = _rand_q(100, 5)
    q2 = Q.matrix_to_quaternion(Q.quaternion_to_matrix(q))
    # same rotation up to sign
    np.testing.assert_allclose(np.abs((q * q2).sum(-1)), 1.0, atol=1e-12)
    d6 = Q.quaternion_to_cont6d(q)
    assert d6.shape == (100, 6)
    np.testing.assert_allclose(Q.cont6d_to_matrix(d6), Q.quaternion_to_matrix(q), atol=1e-12)
    # 6D from a perturbed (non-orthonormal) pair still yields a rotation
    m = Q.cont6d_to_matrix(d6 + 0.1)
    np.testing.assert_allclose(m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=1e-12)


def test_qbetween_including_antiparallel():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    r = Q.qrot(Q.qbetween(a, b), a)
    np.testing.assert_allclose(r / np.linalg.norm(r, axis=-1, keepdims=True),
                               b / np.linalg.norm(b, axis=-1, keepdims=True), atol=1e-12)
    x = np.array([[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(Q.qrot(Q.qbetween(x, -x), x), -x, atol=1e-12)


def test_axis_angle_round_trip_and_known_value():
    aa = np.array([[0.0, np.pi / 2, 0.0]])
    q = Q.axis_angle_to_quaternion(aa)
    np.testing.assert_allclose(Q.qrot(q, np.array([[0.0, 0.0, 1.0]])), [[1.0, 0.0, 0.0]],
                               atol=1e-12)
    np.testing.assert_allclose(q, Q.yaw_quaternion(np.array([np.pi / 2])), atol=1e-12)
    aa = np.random.default_rng(7).normal(size=(20, 3))
    aa = aa / np.linalg.norm(aa, axis=-1, keepdims=True) * 2.0
    np.testing.assert_allclose(Q.quaternion_to_axis_angle(Q.axis_angle_to_quaternion(aa)), aa,
                               atol=1e-10)


def test_slerp_endpoints_and_midpoint():
    q0 = np.array([1.0, 0, 0, 0])
    q1 = Q.yaw_quaternion(np.array(np.pi / 2))
    np.testing.assert_allclose(Q.qslerp(q0, q1, 0.0), q0, atol=1e-12)
    np.testing.assert_allclose(Q.qslerp(q0, q1, 1.0), q1, atol=1e-12)
    np.testing.assert_allclose(Q.qslerp(q0, q1, 0.5), Q.yaw_quaternion(np.array(np.pi / 4)),
                               atol=1e-12)


def test_euler_order():
    ang = np.array([[0.3, -0.2, 0.5]])
    m = Q.euler_to_matrix(ang, 'xyz')
    mx = Q.euler_to_matrix(np.array([[0.3, 0, 0]]), 'xyz')
    my = Q.euler_to_matrix(np.array([[0, -0.2, 0]]), 'xyz')
    mz = Q.euler_to_matrix(np.array([[0, 0, 0.5]]), 'xyz')
    np.testing.assert_allclose(m, mz @ my @ mx, atol=1e-12)
    with pytest.raises(ValueError, match='permutation'):
        Q.euler_to_matrix(ang, 'xxz')


def test_gradients_flow_through_torch_path():
    q = torch.tensor(_rand_q(4), requires_grad=True)
    Q.quaternion_to_cont6d(q).sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()
