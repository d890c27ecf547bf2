// retainleak: objects held by a known root, so that leakhound's retention
// paths (--retainers) can be checked against the program's own truth.
//
//	-mode global-map  a global map[string]*Session that only grows
//	-mode cache2      a cache held through two pointers from a global:
//	                  main.registry → *Registry → *Cache → []*Entry → *Entry
//	-mode stack-slice a slice of *Item that only grows, held by nothing but
//	                  a local of a long-lived goroutine (main.holder)
//	-mode ticker      per request, an unstopped time.NewTicker whose goroutine
//	                  (main.startReporter.func1) appends to a slice its closure
//	                  captured: the tickers' goroutines hold the samples
//	-mode finalizer   per request, a *Conn kept in a global list with a
//	                  finalizer whose closure captured a blob: only the
//	                  finalizer holds the blobs
//	-mode cleanup     the same with runtime.AddCleanup (Go 1.24+): only the
//	                  cleanup's argument holds the blobs
//	-mode control     sessions made and dropped, a holder that resets its
//	                  slice, reporters that stop, conns of both kinds dropped:
//	                  nothing is retained
//
// It prints, once at start, where its roots are (link-time addresses for a
// non-PIE build):
//
//	roots sessions=0x... registry=0x...
//
// the goroutine that holds the slice (stack-slice and control):
//
//	holder goid=N
//
// and then one line per interval with what it holds:
//
//	tick=N sessions=S entries=E items=I samples=S reporters=R
//
// Garbage is churned so that GC cycles (the heap profile's clock) come often.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Session is bigger than 512 B, so the runtime gives it an allocation header
// naming its type (Go 1.22+).
type Session struct {
	ID      string
	Created int64
	Scores  [80]int64
	Payload []byte
}

type Entry struct {
	Key   string
	Value [90]int64
	Blob  []byte
}

type Item struct {
	ID   int
	Data [70]int64
	Note []byte
}

type Sample struct {
	Reporter int
	Values   [70]float64
}

// Conn is bigger than 512 B: its allocation header names it (Go 1.22+).
type Conn struct {
	ID   int
	Buf  [80]int64
	Peer *Conn
}

type Cache struct {
	mu      sync.Mutex
	entries []*Entry
}

type Registry struct {
	name  string
	cache *Cache
}

var (
	mode     = flag.String("mode", "global-map", "global-map, cache2, stack-slice, ticker, finalizer, cleanup or control")
	rate     = flag.Int("rate", 200, "objects retained per second")
	churnMB  = flag.Int("churn", 20, "garbage allocated per second, in MB")
	interval = flag.Duration("interval", time.Second, "how often to print a status line")
)

var sessions = map[string]*Session{}
var registry *Registry
var sessionsMu sync.Mutex
var sink unsafe.Pointer

// counter is atomic.Int64 for Go 1.18, which lacks it (the targets build with 1.18-1.27).
type counter struct{ v int64 }

func (c *counter) Add(d int64) int64 { return atomic.AddInt64(&c.v, d) }
func (c *counter) Load() int64       { return atomic.LoadInt64(&c.v) }
func (c *counter) Store(x int64)     { atomic.StoreInt64(&c.v, x) }

var items, samples, reporters, finalized counter

//go:noinline
func newItem(i int) *Item {
	return &Item{ID: i, Note: make([]byte, 256)} // ITEM-LINE
}

//go:noinline
func newSample(r int) *Sample {
	return &Sample{Reporter: r} // SAMPLE-LINE
}

var conns []*Conn

//go:noinline
func newBlob(i int) []byte {
	return make([]byte, 2048+i%7) // BLOB-LINE
}

// openConn keeps a conn; its finalizer's closure holds a blob that nothing
// else does. keep > 0 drops the conns past keep (the control).
func openConn(i, keep int) {
	c := &Conn{ID: i}
	blob := newBlob(i)
	runtime.SetFinalizer(c, func(c *Conn) { finalized.Add(int64(len(blob))) })
	conns = append(conns, c)
	if keep > 0 && len(conns) > keep {
		conns = nil
	}
}

// goid: the calling goroutine's id, from its own traceback ("goroutine 18 [running]:").
func goid() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	return strings.Fields(string(b))[1]
}

// holder keeps every item it makes in a local slice: the goroutine's stack is
// the only root. With keep > 0 it drops them past keep (the control).
func holder(perTick, keep int, ready chan<- string) {
	ready <- goid()
	var held []*Item
	t := time.NewTicker(100 * time.Millisecond)
	for n := 0; ; {
		<-t.C
		for k := 0; k < perTick; k++ {
			n++
			held = append(held, newItem(n))
		}
		if keep > 0 && len(held) > keep {
			held = nil
		}
		items.Store(int64(len(held)))
	}
}

// startReporter is what a request handler does: a ticker and a goroutine
// that records a sample on every tick into a slice its closure captured.
// Unless ticks > 0 (the control), neither the ticker nor the goroutine is
// ever stopped, and the samples pile up.
func startReporter(id, ticks int) {
	t := time.NewTicker(100 * time.Millisecond)
	var got []*Sample
	reporters.Add(1)
	go func() {
		for range t.C {
			got = append(got, newSample(id))
			samples.Add(1)
			if ticks > 0 && len(got) >= ticks {
				t.Stop()
				samples.Add(-int64(len(got)))
				reporters.Add(-1)
				return
			}
		}
	}()
}

//go:noinline
func newSession(i int) *Session {
	s := &Session{ID: fmt.Sprintf("s%d", i), Created: time.Now().UnixNano()} // SESSION-LINE
	s.Payload = make([]byte, 1024)
	return s
}

//go:noinline
func newEntry(i int) *Entry {
	return &Entry{Key: fmt.Sprintf("e%d", i), Blob: make([]byte, 512)} // ENTRY-LINE
}

func churn() {
	for {
		for i := 0; i < *churnMB*10; i++ {
			b := make([]byte, 100<<10)
			atomic.StorePointer(&sink, unsafe.Pointer(&b))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func main() {
	flag.Parse()
	registry = &Registry{name: "main", cache: &Cache{}}
	fmt.Printf("roots sessions=%#x registry=%#x\n", uintptr(unsafe.Pointer(&sessions)),
		uintptr(unsafe.Pointer(&registry)))
	if *mode == "cleanup" && !haveCleanup {
		fmt.Fprintln(os.Stderr, "-mode cleanup needs runtime.AddCleanup (Go 1.24+)")
		os.Exit(2)
	}
	go churn()
	switch *mode {
	case "stack-slice", "control":
		keep := 0
		if *mode == "control" {
			keep = 50
		}
		ready := make(chan string)
		go holder(*rate/10, keep, ready)
		fmt.Printf("holder goid=%s\n", <-ready)
	}
	tick := time.NewTicker(*interval)
	step := time.NewTicker(100 * time.Millisecond)
	n := 0
	for t := 1; ; {
		select {
		case <-step.C:
			switch *mode {
			case "ticker":
				startReporter(n, 0)
			case "control":
				startReporter(n, 10)
			}
			for k := 0; k < *rate/10; k++ {
				n++
				switch *mode {
				case "global-map":
					s := newSession(n)
					sessionsMu.Lock()
					sessions[s.ID] = s
					sessionsMu.Unlock()
				case "cache2":
					c := registry.cache
					c.mu.Lock()
					c.entries = append(c.entries, newEntry(n))
					c.mu.Unlock()
				case "stack-slice", "ticker":
				case "finalizer":
					openConn(n, 0)
				case "cleanup":
					openCleanupConn(n, 0)
				case "control":
					openConn(n, 50)
					openCleanupConn(n, 50)
					s := newSession(n)
					sessionsMu.Lock()
					sessions[s.ID] = s
					if len(sessions) > 50 {
						for id := range sessions {
							delete(sessions, id)
						}
					}
					sessionsMu.Unlock()
				default:
					fmt.Fprintln(os.Stderr, "unknown -mode", *mode)
					os.Exit(2)
				}
			}
		case <-tick.C:
			sessionsMu.Lock()
			ns := len(sessions)
			sessionsMu.Unlock()
			c := registry.cache
			c.mu.Lock()
			ne := len(c.entries)
			c.mu.Unlock()
			fmt.Printf("tick=%d sessions=%d entries=%d items=%d samples=%d reporters=%d goroutines=%d\n",
				t, ns, ne, items.Load(), samples.Load(), reporters.Load(), runtime.NumGoroutine())
			t++
		}
	}
}
