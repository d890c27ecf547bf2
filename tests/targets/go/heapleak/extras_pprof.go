//go:build pprof

package main

// Serving net/http/pprof makes runtime.MemProfile reachable, so the linker
// leaves the heap sampler on (MemProfileRate 512 KiB): the "sampler on" case.
import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
)

func startExtras() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Printf("pprof http://%s/debug/pprof/\n", ln.Addr())
	go http.Serve(ln, nil)
}
