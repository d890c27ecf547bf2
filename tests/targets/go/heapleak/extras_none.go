//go:build !pprof && !cgo

package main

func startExtras() {}
