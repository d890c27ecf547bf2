//go:build go1.24

package main

import "runtime"

// cleanupConns: conns kept by a global list, each with a cleanup whose
// argument is a blob that nothing else holds (runtime.AddCleanup, Go 1.24+:
// the runtime keeps the argument in the cleanup's closure, which the cleanup
// special roots). keep > 0 drops the conns past keep (the control).
var cleanupConns []*Conn

const haveCleanup = true

func openCleanupConn(i, keep int) {
	c := &Conn{ID: i}
	runtime.AddCleanup(c, func(b []byte) { finalized.Add(int64(len(b))) }, newBlob(i))
	cleanupConns = append(cleanupConns, c)
	if keep > 0 && len(cleanupConns) > keep {
		cleanupConns = nil
	}
}
