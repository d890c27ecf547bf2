// retainleak: objects held by a known root, so that leakhound's retention
// paths (--retainers) can be checked against the program's own truth.
//
//	-mode global-map  a global map[string]*Session that only grows
//	-mode cache2      a cache held through two pointers from a global:
//	                  main.registry → *Registry → *Cache → []*Entry → *Entry
//	-mode control     sessions made and dropped: nothing is retained
//
// It prints, once at start, where its roots are (link-time addresses for a
// non-PIE build):
//
//	roots sessions=0x... registry=0x...
//
// and then one line per interval with what it holds:
//
//	tick=N sessions=S entries=E
//
// Garbage is churned so that GC cycles (the heap profile's clock) come often.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
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

type Cache struct {
	mu      sync.Mutex
	entries []*Entry
}

type Registry struct {
	name  string
	cache *Cache
}

var (
	mode     = flag.String("mode", "global-map", "global-map, cache2 or control")
	rate     = flag.Int("rate", 200, "objects retained per second")
	churnMB  = flag.Int("churn", 20, "garbage allocated per second, in MB")
	interval = flag.Duration("interval", time.Second, "how often to print a status line")
)

var sessions = map[string]*Session{}
var registry *Registry
var sessionsMu sync.Mutex
var sink unsafe.Pointer

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
	go churn()
	tick := time.NewTicker(*interval)
	step := time.NewTicker(100 * time.Millisecond)
	n := 0
	for t := 1; ; {
		select {
		case <-step.C:
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
				case "control":
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
			fmt.Printf("tick=%d sessions=%d entries=%d goroutines=%d\n", t, ns, ne, runtime.NumGoroutine())
			t++
		}
	}
}
