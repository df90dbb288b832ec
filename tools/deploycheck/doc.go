// Package deploycheck is make deploy-check: tests of what deploy/ ships,
// run offline. Its own module (like tools/vault), so that the validators'
// dependency graph never reaches widgetgate's go.mod.
//
//   - schema_test.go: every Kubernetes object, as kustomize builds it and as
//     each optional file has it, against strict JSON schemas made from the
//     OpenAPI document of Kubernetes v1.37.2 (from the module
//     k8s.io/kubernetes, through the Go module proxy), with kubeconform.
//   - manifests_test.go: the same objects decoded strictly into k8s.io/api's
//     types, and the checks of our own: probes, selectors, anti-affinity,
//     resources, security context, volumes, and their agreement with the
//     Caddyfile as bin/widgetgate adapts it.
//   - vault_test.go: deploy/vault against a Vault dev server (setup.sh,
//     the policy operation by operation, the Kubernetes login through a
//     stand-in TokenReview API), then bin/widgetgate running the cluster's
//     Caddyfile until its readiness answers 200 and its admin API works.
//   - systemd_test.go: deploy/systemd's Caddyfile and Vault Agent
//     configuration, run the same way.
//
// WIDGETGATE_BIN (default ../../bin/widgetgate) and VAULT_BIN (the
// Makefile passes scripts/vault.sh's) name the binaries; a test that needs
// one fails without it, it never skips. DEPLOYCHECK_LOG=1 logs how long
// each wait took and the output of the processes the tests run.
package deploycheck
