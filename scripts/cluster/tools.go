//go:build tools

// The commands scripts/cluster.sh builds from this module; importing them here
// keeps `go mod tidy` from dropping their dependencies.
package cluster

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
