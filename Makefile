# The two commands a developer needs:
#   make run    the main job: terraform apply -var env=dev of terraform/ on the local cloud
#   make test   every test, exactly as CI runs them
.PHONY: run example test setup build lint fuzz-build bench install

CARGO ?= cargo

setup:
	scripts/setup.sh

build:
	$(CARGO) build --workspace --bins

# The provider where `terraform init` finds it (~/.terraform.d/plugins), no dev_overrides.
install:
	$(CARGO) build --release -p k3strading-provider
	scripts/install-provider.sh

run: setup
	scripts/run-local.sh apply -var env=dev

example: setup build
	scripts/run-example.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fuzz-build:
	$(CARGO) build --manifest-path crates/tfplug/fuzz/Cargo.toml

test: setup lint
	$(CARGO) test --workspace --no-fail-fast -- --test-threads 2 --show-output
	$(MAKE) fuzz-build

bench: setup
	$(CARGO) run --release -p k3strading-e2e --bin protocol-bench
	$(CARGO) build --release -p k3strading-provider
	$(CARGO) run --release -p k3strading-e2e --bin start-bench
	$(CARGO) bench -p hcloud-emulator
	$(CARGO) bench -p k3strading-provider
