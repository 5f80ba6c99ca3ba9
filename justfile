# gentk task runner. Every recipe is a plain cargo command (see README for the cargo fallback).

# Regenerate every paper figure in experiments/ into results/ (cpu preset).
reproduce-all:
    cargo run --release -p gentk-cli -- reproduce-all

# One figure spec, e.g. `just figure experiments/f01_kron_exact.toml`.
figure SPEC:
    cargo run --release -p gentk-cli -- run {{SPEC}}

# The linalg estimator accuracy table.
accuracy:
    cargo run --release -p gentk-linalg --example accuracy

# The default test suite (what CI runs).
test:
    cargo test --workspace --release

# Also the heavier checks kept out of the default suite (none yet: every test runs by default).
test-all:
    cargo test --workspace --release -- --include-ignored

# Formatting and lints exactly as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --release -- -D warnings

# Benchmarks (divan): FLOP/s of block operators vs faer GEMM, cost per matvec of each estimator.
bench:
    cargo bench -p gentk-linalg
    cargo bench -p gentk-models --bench models
    cargo bench -p gentk-models --bench train
    cargo bench -p gentk-ntk --bench ntk -- --sample-count 5
