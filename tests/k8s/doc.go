// Package k8s checks deploy/: the Kubernetes manifests and the Helm chart
// decode strictly into the API's own types and agree, the DaemonSet is
// least-privileged, the alert rule parses, and the Dockerfile's package lists
// match scripts/setup.sh and the built binary. Run: go test ./... (CTest: k8s_deploy).
package k8s
