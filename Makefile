# The two commands a developer needs:
#   make run    the main job: terraform apply -var env=dev of terraform/ on the local cloud,
#               then k3strading bootstrap (make destroy tears it down)
#   make test   every test, exactly as CI runs them
.PHONY: run destroy example test setup build lint fuzz-build bench campaign install

CARGO ?= cargo
# The environment `make run` / `make destroy` act on: make run ENV=prod
ENV ?= dev

setup:
	scripts/setup.sh

build:
	$(CARGO) build --workspace --bins

# The provider where `terraform init` finds it (~/.terraform.d/plugins), no dev_overrides.
install:
	$(CARGO) build --release -p k3strading-provider
	scripts/install-provider.sh

# Builds, starts the local cloud (VMs when root) in the background, creates and
# bootstraps the cluster, prints the cluster table and the phase timings.
run: setup
	scripts/run-local.sh up $(ENV)

# terraform destroy of what `make run` built, then stops the local cloud.
destroy:
	scripts/run-local.sh down $(ENV)

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

# Figures, not pass/fail: the protocol, the local cloud, and the cluster
# benchmark (VMs: run as root).
bench: setup
	$(CARGO) build --release --bins
	$(CARGO) run --release -p k3strading-e2e --bin protocol-bench
	$(CARGO) build --release -p k3strading-provider
	$(CARGO) run --release -p k3strading-e2e --bin start-bench
	$(CARGO) bench -p hcloud-emulator
	$(CARGO) bench -p k3strading-provider --bench cluster

# The randomized fault campaign (VMs: run as root). Each run's draw follows
# from SEED and its number; RECORD keeps finished runs, so a campaign resumes
# where it stopped. Replay one run: make campaign SEED=… RUN=n
SEED ?= 20261130
RUNS ?= 100
RECORD ?= $(CURDIR)/campaign-$(SEED).jsonl
campaign: setup
	CAMPAIGN_SEED=$(SEED) CAMPAIGN_RUNS=$(RUNS) CAMPAIGN_RECORD=$(RECORD) $(if $(RUN),CAMPAIGN_RUN=$(RUN)) \
		$(CARGO) test -p k3strading-provider --test it campaign::fault_campaign -- --exact --nocapture
