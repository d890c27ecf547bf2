//go:build !go1.24

package main

// runtime.AddCleanup is Go 1.24+: -mode cleanup says so and exits.
const haveCleanup = false

func openCleanupConn(i, keep int) {}
