# One gate for people and CI: `make verify` is read-only; `make fix` rewrites.
.PHONY: verify fix test lint purity fuzz-smoke

verify: lint purity test

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# The engine must stay free of I/O and runtimes (ARCHITECTURE.md).
purity:
	@if cargo tree -p lattice-engine -e normal | grep -qE 'tokio|mio'; then \
	  echo "lattice-engine must not depend on tokio/mio"; exit 1; fi
	@echo "purity: lattice-engine has no runtime dependency"

test:
	cargo test --workspace

fix:
	cargo fmt --all
	cargo clippy --workspace --all-targets --fix --allow-dirty -- -D warnings

fuzz-smoke:
	cd fuzz && cargo +nightly fuzz run resp_decode -- -max_total_time=60
