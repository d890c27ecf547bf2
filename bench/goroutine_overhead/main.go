// Goroutine-churn workloads for bench/goroutine_overhead (run.py). One binary,
// three roles:
//
//	-server            an HTTP server on 127.0.0.1:0; prints "listening URL".
//	                   The handler encodes a small JSON document (~20-50 us).
//	                   net/http starts (and ends) a background-read goroutine
//	                   per request, so goroutines churn at the request rate.
//	-client URL        a load generator: -conns keep-alive connections, each
//	                   a goroutine issuing GETs back to back; prints
//	                   "t=SECONDS reqs=N" every -interval.
//	-spawn             a microbenchmark: starts goroutines that do nothing and
//	                   exit, -batch at a time (WaitGroup); prints
//	                   "t=SECONDS spawned=N" every -interval.
//
// run.py runs each role with GOMAXPROCS=1.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var (
	server   = flag.Bool("server", false, "run the HTTP server")
	client   = flag.String("client", "", "run the load generator against this URL")
	spawn    = flag.Bool("spawn", false, "run the goroutine spawn microbenchmark")
	conns    = flag.Int("conns", 16, "client: concurrent keep-alive connections")
	batch    = flag.Int("batch", 256, "spawn: goroutines started per WaitGroup batch")
	items    = flag.Int("items", 24, "server: items in each JSON response")
	interval = flag.Duration("interval", 250*time.Millisecond, "report interval")
)

type item struct {
	ID      int               `json:"id"`
	Name    string            `json:"name"`
	Price   float64           `json:"price"`
	Tags    []string          `json:"tags"`
	Attrs   map[string]string `json:"attrs"`
	InStock bool              `json:"in_stock"`
}

type page struct {
	Request string    `json:"request"`
	Served  time.Time `json:"served"`
	Total   int       `json:"total"`
	Items   []item    `json:"items"`
}

func runServer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	h := func(w http.ResponseWriter, r *http.Request) {
		p := page{Request: r.URL.Path, Served: time.Now(), Total: *items}
		for i := 0; i < *items; i++ {
			p.Items = append(p.Items, item{
				ID: i, Name: fmt.Sprintf("item-%d", i), Price: float64(i) * 1.25,
				Tags:    []string{"alpha", "beta", "gamma"},
				Attrs:   map[string]string{"color": "red", "size": "m"},
				InStock: i%3 != 0,
			})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(&p)
	}
	fmt.Printf("listening http://%s/\n", ln.Addr())
	if err := http.Serve(ln, http.HandlerFunc(h)); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

func report(start time.Time, label string, count *atomic.Int64) {
	for range time.Tick(*interval) {
		fmt.Printf("t=%.3f %s=%d\n", time.Since(start).Seconds(), label, count.Swap(0))
	}
}

func runClient(url string) {
	tr := &http.Transport{MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}
	c := &http.Client{Transport: tr}
	var done atomic.Int64
	for i := 0; i < *conns; i++ {
		go func() {
			for {
				resp, err := c.Get(url)
				if err != nil {
					fmt.Fprintln(os.Stderr, "get:", err)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				done.Add(1)
			}
		}()
	}
	report(time.Now(), "reqs", &done)
}

func runSpawn() {
	start := time.Now()
	next := start.Add(*interval)
	var wg sync.WaitGroup
	n := 0
	for {
		wg.Add(*batch)
		for i := 0; i < *batch; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
		n += *batch
		if now := time.Now(); now.After(next) {
			fmt.Printf("t=%.3f spawned=%d\n", now.Sub(start).Seconds(), n)
			n = 0
			next = next.Add(*interval)
		}
	}
}

func main() {
	flag.Parse()
	switch {
	case *server:
		runServer()
	case *client != "":
		runClient(*client)
	case *spawn:
		runSpawn()
	default:
		fmt.Fprintln(os.Stderr, "one of -server, -client URL, -spawn")
		os.Exit(2)
	}
}
