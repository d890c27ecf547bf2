//go:build cgo && !pprof

package main

// A cgo call makes the binary externally linked with libc: the "cgo" variant.

/*
#include <stdlib.h>
static int cgo_probe(int x) { return abs(x); }
*/
import "C"

func startExtras() { _ = C.cgo_probe(-1) }
