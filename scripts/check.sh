#!/usr/bin/env bash
# Formatting and lints, as warnings-are-errors: run before committing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
