"""LogME (You et al. 2021, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning", ICML):
how well frozen features explain labels, as the log marginal evidence of a Bayesian linear model on them.

For features F (n x D) and one target column y (n), the model is y = F w + noise, with prior w ~ N(0, 1/alpha I)
and noise ~ N(0, 1/beta). Its evidence p(y | F, alpha, beta) is maximised over alpha and beta by the paper's
fixed-point iteration (its Algorithm 1), run on the SVD of F so each step costs O(min(n, D)). A classification
target is one-hot encoded and the per-class evidences averaged (the paper's choice); every value is divided by n.
"""

from __future__ import annotations

import numpy as np

MAX_ITERATIONS = 100  # the paper's implementation stops at 11 in practice; ours at a relative change of 1e-3 too
TOLERANCE = 1e-3


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """Mean over classes of the maximised log evidence per example (higher: the features explain the labels better).

    `labels` are integer classes, one per row of `features`.
    """
    f = np.asarray(features, dtype=np.float64)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    classes = np.unique(labels)
    return float(np.mean([_maximised(u, s, f.shape[1], (labels == c).astype(np.float64)) for c in classes]))


def evidence(u: np.ndarray, s: np.ndarray, dim: int, y: np.ndarray, alpha: float, beta: float) -> float:
    """log p(y | F, alpha, beta) / n for F = u diag(s) v^T (thin SVD) with `dim` columns:
    n/2 log beta + D/2 log alpha - n/2 log 2pi - beta/2 |F m - y|^2 - alpha/2 |m|^2 - 1/2 log|alpha I + beta F^T F|,
    m the posterior mean (the paper's Eq. 2)."""
    n, sigma = len(y), s**2
    z = u.T @ y  # y in the basis of F's left singular vectors
    m = beta * s * z / (alpha + beta * sigma)  # the posterior mean in the right singular basis
    residual = np.sum((s * m - z) ** 2) + max(float(y @ y - z @ z), 0.0)
    log_det = np.sum(np.log(alpha + beta * sigma)) + (dim - len(s)) * np.log(alpha)
    value = (n * np.log(beta) + dim * np.log(alpha) - n * np.log(2 * np.pi) - beta * residual - alpha * (m @ m)
             - log_det) / 2
    return float(value / n)


def maximise(u: np.ndarray, s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(alpha, beta) at the evidence's maximum: the paper's fixed point, from alpha = beta = 1."""
    n, sigma, z = len(y), s**2, u.T @ y
    out_of_span = max(float(y @ y - z @ z), 0.0)
    alpha, beta = 1.0, 1.0
    for _ in range(MAX_ITERATIONS):
        gamma = float(np.sum(beta * sigma / (alpha + beta * sigma)))
        m = beta * s * z / (alpha + beta * sigma)
        residual = float(np.sum((s * m - z) ** 2)) + out_of_span
        new_alpha, new_beta = gamma / max(float(m @ m), 1e-12), (n - gamma) / max(residual, 1e-12)
        converged = abs(new_alpha / alpha - 1) < TOLERANCE and abs(new_beta / beta - 1) < TOLERANCE
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    return alpha, beta


def _maximised(u: np.ndarray, s: np.ndarray, dim: int, y: np.ndarray) -> float:
    alpha, beta = maximise(u, s, y)
    return evidence(u, s, dim, y, alpha, beta)
