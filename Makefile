# The two commands a user needs are `make demo` and `make test`; everything else is for development.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
# npm scripts and dev tools run on the Node 24 that the `node` dev dependency installs.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
CLUSTER := test/cluster

.PHONY: help deps system-packages node-modules binaries images test test-static test-unit test-tools test-integration test-gpu \
        test-e2e demo cluster-up cluster-down run bench bench-chains bench-argo bench-warm bench-scale chaos generate \
        images-push registry test-gpu-image test-gpu-node

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

deps: system-packages node-modules binaries ## install everything the tests and the demo need (cached)

system-packages: ## Debian packages (apt-get update first, only when something is missing)
	@bash $(CLUSTER)/install-system-packages.sh

node-modules: ## npm packages, including the Node 24 that runs every script
	@if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  npm ci --no-audit --no-fund; fi

binaries: ## Kubernetes, etcd, kwok, containerd, helm, provisioner, Kueue, the image registry: built from Go modules once, cached by version
	@bash $(CLUSTER)/build-binaries.sh all

test: deps ## every test: static checks, unit tests, then integration tests on a local cluster started and stopped here
	@bash test/run-tests.sh

test-static: node-modules ## typecheck, lint, formatting
	tsc --noEmit -p tsconfig.json
	eslint --max-warnings 0 .
	prettier --check .

test-unit: node-modules ## unit tests of pure code (no cluster)
	vitest run --project unit

test-tools: node-modules ## tests that run a pinned tool (the chart with helm) or the runtime worker (longvideo render), no cluster
	@bash $(CLUSTER)/build-binaries.sh helm
	. $(CLUSTER)/env.sh && vitest run --project tools

test-integration: ## integration tests against the running local cluster (make cluster-up first); Kueue's controller runs from the cache
	@bash $(CLUSTER)/build-binaries.sh kueue
	. $(CLUSTER)/env.sh && KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig vitest run --project integration

test-e2e: ## end-to-end tests against the running local cluster: helm install, films on the real node (animatic, svi on tiny models), Prometheus
	. $(CLUSTER)/env.sh && KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig vitest run --project e2e

test-gpu: node-modules ## the runtime on CUDA when a GPU is present (bf16 tiny films, fused attention, NCCL between two ranks, an extra LoRA); skipped, and said so, without one
	LV_SKIP_CPU_IMAGE=1 bash runtime-image/run-tests.sh -m gpu tests/test_gpu.py

test-gpu-image: deps ## the GPU runtime image (CUDA torch, 3.6 GB of wheels, cached) built and run in its own root filesystem: tiny svi films, animatic and concat on CPU
	LV_GPU_IMAGE=1 LV_SKIP_CPU_IMAGE=1 bash runtime-image/run-tests.sh tests/test_image_rootfs.py

test-gpu-node: ## the GPU runtime image pushed to the local registry and pulled by the real node, which renders the svi films in it (make cluster-up first)
	@bash $(CLUSTER)/build-binaries.sh registry
	@bash test/images/gpu-image-on-node.sh

demo: deps ## the main job: a film on the local cluster (helm install, apply the example, film copied to out/)
	@bash $(CLUSTER)/cluster-up.sh
	@. $(CLUSTER)/env.sh && KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig node test/e2e/demo.ts

images: ## build the operator and CPU runtime images and import them into the running local cluster
	@bash test/images/load-images.sh operator runtime

images-push: node-modules system-packages ## build the images and push them: REGISTRY=host[:port] [TLS_VERIFY=false] [GPU=0 skips the GPU runtime]
	@bash test/images/push-images.sh "$(REGISTRY)"

registry: ## run the local image registry (127.0.0.1:LV_REGISTRY_PORT, default 15000) in the foreground; Ctrl-C stops it
	@bash $(CLUSTER)/build-binaries.sh registry
	@. $(CLUSTER)/env.sh && node test/cluster/registry.ts

cluster-up: deps ## start the local cluster; kubeconfig at .cache/cluster/kubeconfig
	@bash $(CLUSTER)/cluster-up.sh

cluster-down: ## stop what cluster-up started (by pid; pods' shims by its containerd socket) and remove its state
	@bash $(CLUSTER)/cluster-down.sh

chaos: deps ## the full chaos suite on the local cluster (50 films, 100 leader kills, API server and etcd restarts, lost nodes, deleted jobs and pods, edits); figures last
	@bash $(CLUSTER)/cluster-up.sh
	@. $(CLUSTER)/env.sh; KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig node test/chaos/chaos.ts

bench: deps ## benchmarks: the runtime's per-segment overhead, then the operator on a fresh local cluster, beside Argo Workflows, then warm start on the real node; figures last
	@bash $(CLUSTER)/build-binaries.sh argo-workflows
	@bash runtime-image/bench/run-bench.sh
	@bash $(CLUSTER)/cluster-down.sh
	@LV_KWOK_NODES_PER_POOL=$$(( $${LV_BENCH_NODES:-100} / 2 )) bash $(CLUSTER)/cluster-up.sh
	@trap 'bash $(CLUSTER)/cluster-down.sh || exit 1' EXIT; . $(CLUSTER)/env.sh; \
	  KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig node test/bench/operator-bench.ts && \
	  KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig node test/bench/chains-bench.ts && \
	  KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig LV_ARGO_BIN=$$ARGO_BIN node test/bench/argo-bench.ts && \
	  KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig node test/bench/warm-bench.ts

bench-warm: deps ## the same film serial and warm on the real node (animatic, tiny svi): wall, hand-off gap, idle share, GPU held per denoising
	@bash $(CLUSTER)/cluster-up.sh
	@trap 'bash $(CLUSTER)/cluster-down.sh || exit 1' EXIT; . $(CLUSTER)/env.sh; \
	  KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig node test/bench/warm-bench.ts

bench-scale: deps ## the operator's own cost at scale on a fresh cluster of kwok nodes: memory, API requests and CPU per segment, restart; goals beside
	@bash $(CLUSTER)/cluster-down.sh
	@LV_REAL_NODE=0 LV_KWOK_NODES_PER_POOL=$$(( $${LV_BENCH_NODES:-100} / 2 )) bash $(CLUSTER)/cluster-up.sh
	@trap 'bash $(CLUSTER)/cluster-down.sh || exit 1' EXIT; . $(CLUSTER)/env.sh; \
	  KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig node test/bench/scale-bench.ts

bench-chains: deps ## one keyframed film rendered serially and then chain-parallel on kwok, wall times and their ratio
	@bash $(CLUSTER)/cluster-up.sh
	@trap 'bash $(CLUSTER)/cluster-down.sh || exit 1' EXIT; . $(CLUSTER)/env.sh; \
	  KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig node test/bench/chains-bench.ts

# Argo is built here and in bench only, never by deps: CI does not pay minutes for a controller its tests never run.
# 50 chains of one-GPU pods need 7 of the h100 pool's 8-GPU nodes: the pools get 8 nodes each.
bench-argo: deps ## the same chain of kwok pods run by Argo Workflows (as installed, requeue 1s) and by this operator: gaps and wall times
	@bash $(CLUSTER)/build-binaries.sh argo-workflows
	@LV_KWOK_NODES_PER_POOL=$${LV_KWOK_NODES_PER_POOL:-8} bash $(CLUSTER)/cluster-up.sh
	@trap 'bash $(CLUSTER)/cluster-down.sh || exit 1' EXIT; . $(CLUSTER)/env.sh; \
	  KUBECONFIG=$(CURDIR)/.cache/cluster/kubeconfig LV_ARGO_BIN=$$ARGO_BIN node test/bench/argo-bench.ts

run: node-modules ## the operator, out of cluster, against $$KUBECONFIG (default: the local cluster)
	KUBECONFIG=$${KUBECONFIG:-$(CURDIR)/.cache/cluster/kubeconfig} node src/main.ts
