"""Search: Ray Tune runs trials, Optuna proposes them, a multi-fidelity scheduler stops bad ones early."""
