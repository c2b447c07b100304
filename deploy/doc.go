// Package deploy holds chatgate's deployment kit, as files rather than Go:
// the compose stack (compose/), the Prometheus alert rules and their unit
// tests (prometheus/), the Grafana dashboards (grafana/) and the Kubernetes
// manifests (kubernetes/). docs/operations.md explains them.
//
// The package's tests are the kit's validation: every file parses, every
// command and mounted configuration is one `chatgate serve -check` accepts,
// every metric a dashboard or alert queries is one a running chatgate
// serves, and promtool checks and unit-tests the rules.
package deploy
