// goleak: a Go service that leaks goroutines in several realistic ways at once,
// each from its own `go` statement in its own named function, next to
// goroutines that come and go or stay by design (controls), so leakhound's
// goroutine findings can be checked against ground truth per creation site.
//
// Modes (-modes, comma separated):
//
//	chan      main.leakChan: a goroutine per request blocks forever on a
//	          receive from a channel nobody sends to or closes ("chan receive")
//	httpbody  an in-process HTTP server and a client that never closes
//	          resp.Body: each request leaves the transport's readLoop and
//	          writeLoop (created by net/http.(*Transport).dialConn) and the
//	          server's conn goroutine (created by net/http.(*Server).Serve)
//	ticker    main.leakTicker: goroutines ranging over a ticker that never
//	          stops, with no exit ("chan receive")
//	ctx       main.leakCtx: goroutines waiting for a context nobody cancels
//	          ("select")
//	pool      control: -pool-size workers started by main.startPool, fed jobs
//	burst     control: every -burst-every main.burst starts -burst-size
//	          goroutines that sleep 200-400 ms and exit
//	fdleak    main.leakFiles: a loop that never returns opens a file per
//	          iteration with `defer f.Close()` (the defer-in-loop bug: fds grow)
//	fdclose   control for fdleak: main.openCloseFiles closes each file at once
//	global    control for the GC's proof: main.parkGlobal parks goroutines on
//	          a channel held in a global (reachable: never proven leaked, a
//	          trend leak when they grow)
//	churn     allocates -churn-mb MiB of garbage a second (GC cycles: the
//	          runtime's goroutine leak check only runs when one starts)
//	sleep     control for `stuck`: main.sleepLong starts goroutines (paced
//	          like a leak) that sleep for an hour ("sleep": never stuck)
//
// -block-main: main blocks in `select {}` once ready (the status loop runs in
// another goroutine): the runtime never calls it leaked.
//
// On SIGUSR2 the target runs its own goroutine leak profile (Go 1.27:
// pprof.Lookup("goroutineleak"), which first runs a detection GC) and prints
//
//	goroutineleak count=N chan=C parsed=P chan_made=M
//
// N: the profile's count; C: those created by main.leakChan; P: the sum of
// its records; M: leakChan calls so far (count=unavailable before 1.27).
//
// Every `go` statement of a mode is marked with a trailing comment GO-SITE,
// colon, mode name (exactly one per mode; httpbody's sites are inside
// net/http), which tests grep for to find the expected creation site.
//
// Output, one line at a time (os.Stdout is unbuffered):
//
//	ready pid=P modes=M go=VERSION          (after -pre leaks per mode exist)
//	tick=N elapsed_s=X numgoroutine=N fds=N (every -interval)
//	memstats elapsed_s=X stack_inuse=S stack_sys=Y heap_inuse=H  (-memstats: after each tick line)
//
// With -quiesce-after D, after D (or on SIGUSR1) the target stops all spawning, waits until
// its goroutine count is stable and prints its own census once:
//
//	quiescing numgoroutine=N bursts=B      (while it settles, at every change)
//	quiescing census                       (settled: counting)
//	quiescent numgoroutine=N
//	site FILE:LINE COUNT CREATOR            (per creation site, sorted by FILE:LINE)
//	site main COUNT -                       (goroutines without "created by")
//	census-end
//
// then keeps running idle (status lines only) until killed or -duration ends.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// counter is atomic.Int64 for Go 1.18, which lacks it (the targets build with 1.18-1.27).
type counter struct{ v int64 }

func (c *counter) Add(d int64) int64 { return atomic.AddInt64(&c.v, d) }
func (c *counter) Load() int64       { return atomic.LoadInt64(&c.v) }
func (c *counter) Store(x int64)     { atomic.StoreInt64(&c.v, x) }

var (
	modesFlag    = flag.String("modes", "chan,httpbody,ticker,ctx,pool,burst", "comma separated modes: chan,httpbody,ticker,ctx,pool,burst,fdleak,fdclose,global,churn,sleep")
	rate         = flag.Float64("rate", 20, "leaked goroutines (httpbody: requests; fd modes: files opened) per second, per leaking mode")
	pre          = flag.Int("pre", 50, "per leaking mode, leaks done before the ready line")
	poolSize     = flag.Int("pool-size", 8, "workers of the pool control")
	burstEvery   = flag.Duration("burst-every", 2*time.Second, "how often the burst control starts goroutines")
	burstSize    = flag.Int("burst-size", 100, "goroutines per burst")
	tickerPeriod = flag.Duration("ticker-period", time.Hour, "period of the leaked tickers (long: they stay blocked)")
	quiesceAfter = flag.Duration("quiesce-after", 0, "stop spawning after this long, wait until stable, print a census (0: never)")
	interval     = flag.Duration("interval", time.Second, "how often to print a status line")
	duration     = flag.Duration("duration", 0, "exit after this long (0: run until killed)")
	churnMB      = flag.Float64("churn-mb", 20, "churn mode: MiB of garbage allocated per second")
	blockMain    = flag.Bool("block-main", false, "main blocks in select {} once ready")
	memstats     = flag.Bool("memstats", false, "also print runtime.ReadMemStats' stack figures at each interval")
)

var (
	stop    = make(chan struct{}) // closed when spawning stops (quiesce)
	neverCh = make(chan struct{}) // never closed, never sent to
	outMu   sync.Mutex            // keeps the census lines together
	drivers sync.WaitGroup        // loops that spawn; done once stopped
)

func say(format string, args ...any) {
	outMu.Lock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
	outMu.Unlock()
}

// pacer spaces events at -rate per second; the first -pre are due at once.
type pacer struct {
	n     int
	t0    time.Time
	ready *sync.WaitGroup // Done once the first -pre events happened
}

func newPacer(ready *sync.WaitGroup) *pacer {
	ready.Add(1)
	return &pacer{ready: ready}
}

// next blocks until the next event is due; false once spawning stopped.
func (p *pacer) next() bool {
	if p.n >= *pre && p.ready != nil {
		p.ready.Done()
		p.ready = nil
		p.t0 = time.Now()
	}
	if p.n >= *pre {
		if *rate <= 0 {
			<-stop
			return false
		}
		due := p.t0.Add(time.Duration(float64(p.n-*pre) / *rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-stop:
				t.Stop()
				return false
			case <-t.C:
			}
		}
	}
	select {
	case <-stop:
		return false
	default:
	}
	p.n++
	return true
}

// ---- leaking modes ----

// leakChan handles one "request": it hands a result channel to a goroutine
// that waits for it, and forgets to ever send or close.
func leakChan() {
	chanMade.Add(1)
	ch := make(chan int)
	go func() { // GO-SITE:chan
		<-ch
	}()
}

// leakTicker starts a background refresher that has no way to stop.
func leakTicker() {
	go func() { // GO-SITE:ticker
		for range time.NewTicker(*tickerPeriod).C {
		}
	}()
}

// cancels keeps every cancel func referenced (and never called).
var cancels []context.CancelFunc

// leakCtx starts a watcher for a context nobody cancels.
func leakCtx() {
	ctx, cancel := context.WithCancel(context.Background())
	cancels = append(cancels, cancel)
	go func() { // GO-SITE:ctx
		select {
		case <-ctx.Done():
		case <-neverCh:
		}
	}()
}

// startHTTPServer serves on 127.0.0.1:0 and returns the URL.
func startHTTPServer() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "goleak: listen:", err)
		os.Exit(1)
	}
	body := []byte(`{"status":"ok","items":[1,2,3]}` + "\n")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A non-empty body: a zero-length one would let the client reuse the conn.
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/"
}

// leakHTTPBody makes one request and never closes (or reads) the body: the
// connection stays busy, so the next request dials a new one.
func leakHTTPBody(client *http.Client, url string) {
	resp, err := client.Get(url) // ANCESTRY-LINE: the user's call behind net/http's goroutines
	if err != nil {
		fmt.Fprintln(os.Stderr, "goleak: get:", err)
		return
	}
	_ = resp // resp.Body.Close() forgotten
}

// leakFiles opens a file per iteration and defers its close: the defers only
// run when the function returns, which it never does.
func leakFiles(p *pacer) {
	for {
		if !p.next() {
			select {} // stopped: keep the files open, never return
		}
		f, err := os.Open("/proc/self/stat") // FD-LEAK-LINE
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak: open:", err)
			continue
		}
		defer f.Close()
		var b [64]byte
		f.Read(b[:])
	}
}

// openCloseFiles is leakFiles done right: each file is closed at once.
func openCloseFiles(p *pacer) {
	for {
		if !p.next() {
			select {}
		}
		f, err := os.Open("/proc/self/stat")
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak: open:", err)
			continue
		}
		var b [64]byte
		f.Read(b[:])
		f.Close()
	}
}

// ---- controls ----

// globalCh is held in a global: goroutines parked on it are reachable, so
// the runtime's leak check must never call them leaked.
var globalCh = make(chan int)

func parkGlobal() {
	go func() { // GO-SITE:global
		<-globalCh
	}()
}

func sleepLong() {
	go func() { // GO-SITE:sleep
		time.Sleep(time.Hour)
	}()
}

var churnSink []byte

// churn allocates garbage at -churn-mb MiB/s in 64 KiB pieces.
func churn() {
	const piece = 64 << 10
	every := time.Duration(float64(time.Second) * piece / (*churnMB * (1 << 20)))
	t := time.NewTicker(every)
	for range t.C {
		churnSink = make([]byte, piece)
	}
}

// chanMade counts leakChan calls (the test compares it with the profile).
var chanMade counter

// leakProfile runs the program's own goroutine leak profile, as a user would,
// and counts its goroutines in total and those of main.leakChan.
func leakProfile() string {
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		return fmt.Sprintf("goroutineleak count=unavailable chan_made=%d", chanMade.Load())
	}
	var buf bytes.Buffer
	p.WriteTo(&buf, 1) // runs a detection GC first
	if os.Getenv("GOLEAK_DUMP") != "" {
		os.Stderr.Write(buf.Bytes())
	}
	// debug=1: "N @ pcs" then "#\tpc\tfunc+off\tfile:line" lines per stack.
	total, chanN := 0, 0
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		var n int
		if _, err := fmt.Sscanf(rec, "%d @", &n); err != nil {
			if k := strings.Index(rec, "\n"); k >= 0 {
				fmt.Sscanf(rec[k+1:], "%d @", &n)
			}
		}
		total += n
		if strings.Contains(rec, "main.leakChan.func1") {
			chanN += n
		}
	}
	return fmt.Sprintf("goroutineleak count=%d chan=%d parsed=%d chan_made=%d", p.Count(), chanN, total, chanMade.Load())
}

var poolDone counter

// startPool starts a fixed set of workers consuming jobs.
func startPool(n int, jobs <-chan []byte) {
	for i := 0; i < n; i++ {
		go func() { // GO-SITE:pool
			for j := range jobs {
				var h uint32 = 2166136261
				for _, c := range j {
					h = (h ^ uint32(c)) * 16777619
				}
				j[0] = byte(h)
				poolDone.Add(1)
			}
		}()
	}
}

// feedPool sends about 1000 jobs a second until spawning stops; then it stays,
// idle, and the workers block on the job channel.
func feedPool(jobs chan<- []byte) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			<-neverCh
		case <-t.C:
			for i := 0; i < 10; i++ {
				jobs <- make([]byte, 256)
			}
		}
	}
}

var (
	burstLive    counter
	burstLastEnd counter // unix nanos
)

// burst starts short-lived goroutines that end on their own.
func burst(n int) {
	for i := 0; i < n; i++ {
		d := time.Duration(200+rand.Intn(201)) * time.Millisecond
		burstLive.Add(1)
		go func() { // GO-SITE:burst
			time.Sleep(d)
			burstLastEnd.Store(time.Now().UnixNano())
			burstLive.Add(-1)
		}()
	}
}

// burstLoop bursts at a quarter period past each -burst-every boundary, so
// status lines (on whole -interval multiples, by default) don't catch bursts.
func burstLoop(start time.Time) {
	defer drivers.Done()
	for k := 0; ; k++ {
		due := start.Add(*burstEvery/4 + time.Duration(k)*(*burstEvery))
		t := time.NewTimer(time.Until(due))
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		burst(*burstSize)
	}
}

// ---- status and census ----

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory's own fd, open while reading it
}

type site struct {
	file    string
	line    int
	creator string
}

// census counts the goroutines per creation site, from runtime.Stack.
func census() (map[site]int, int) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	sites := map[site]int{}
	total := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		lines := strings.Split(strings.TrimSpace(string(g)), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "goroutine ") {
			continue
		}
		total++
		s := site{file: "main", creator: "-"}
		for i, l := range lines {
			if !strings.HasPrefix(l, "created by ") || i+1 >= len(lines) {
				continue
			}
			fn := strings.TrimPrefix(l, "created by ")
			if k := strings.Index(fn, " in goroutine "); k >= 0 {
				fn = fn[:k] // Go 1.21+
			}
			loc := strings.TrimSpace(lines[i+1])
			if k := strings.LastIndex(loc, " +0x"); k >= 0 {
				loc = loc[:k]
			}
			k := strings.LastIndex(loc, ":")
			if k < 0 {
				continue
			}
			line, err := strconv.Atoi(loc[k+1:])
			if err != nil {
				continue
			}
			s = site{file: loc[:k], line: line, creator: fn}
		}
		sites[s]++
	}
	return sites, total
}

// quiesce stops spawning, waits until the goroutine count is stable and
// prints the census. It runs on the main goroutine, so nothing ends after it.
// Its progress is printed as it changes (a test waits as long as the target
// gets on, however slow the machine: an emulated guest settles 4,800
// goroutines for over a minute).
func quiesce() {
	close(stop)
	drivers.Wait()
	last := ""
	for {
		time.Sleep(200 * time.Millisecond)
		if st := fmt.Sprintf("quiescing numgoroutine=%d bursts=%d", runtime.NumGoroutine(), burstLive.Load()); st != last {
			say("%s", st)
			last = st
		}
		if burstLive.Load() > 0 || time.Since(time.Unix(0, burstLastEnd.Load())) < time.Second {
			continue
		}
		a := runtime.NumGoroutine()
		time.Sleep(200 * time.Millisecond)
		if b := runtime.NumGoroutine(); a == b {
			break
		}
	}
	say("quiescing census")
	sites, total := census()
	keys := make([]site, 0, len(sites))
	for s := range sites {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.file != b.file {
			return a.file < b.file
		}
		if a.line != b.line {
			return a.line < b.line
		}
		return a.creator < b.creator
	})
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(os.Stdout, "quiescent numgoroutine=%d\n", runtime.NumGoroutine())
	for _, s := range keys {
		if s.file == "main" {
			fmt.Fprintf(os.Stdout, "site main %d -\n", sites[s])
		} else {
			fmt.Fprintf(os.Stdout, "site %s:%d %d %s\n", s.file, s.line, sites[s], s.creator)
		}
	}
	if n := runtime.NumGoroutine(); n != total {
		fmt.Fprintf(os.Stderr, "goleak: census saw %d goroutines, NumGoroutine %d\n", total, n)
	}
	fmt.Fprintln(os.Stdout, "census-end")
}

// startLeakLoop drives one leaking mode: -pre steps at once, then -rate per second.
func startLeakLoop(ready *sync.WaitGroup, step func()) {
	p := newPacer(ready)
	drivers.Add(1)
	go func() {
		defer drivers.Done()
		for p.next() {
			step()
		}
	}()
}

func main() {
	flag.Parse()
	start := time.Now()
	modes := map[string]bool{}
	var list []string
	for _, m := range strings.Split(*modesFlag, ",") {
		m = strings.TrimSpace(m)
		switch m {
		case "":
			continue
		case "chan", "httpbody", "ticker", "ctx", "pool", "burst", "fdleak", "fdclose", "global", "churn", "sleep":
		default:
			fmt.Fprintf(os.Stderr, "goleak: unknown mode %q\n", m)
			os.Exit(2)
		}
		if !modes[m] {
			modes[m] = true
			list = append(list, m)
		}
	}

	var ready sync.WaitGroup
	runLeak := func(step func()) { startLeakLoop(&ready, step) }
	if modes["chan"] {
		runLeak(leakChan)
	}
	if modes["httpbody"] {
		url := startHTTPServer()
		client := &http.Client{Transport: &http.Transport{}} // no proxy, no limits
		runLeak(func() { leakHTTPBody(client, url) })
	}
	if modes["ticker"] {
		runLeak(leakTicker)
	}
	if modes["global"] {
		runLeak(parkGlobal)
	}
	if modes["churn"] {
		go churn()
	}
	if modes["sleep"] {
		runLeak(sleepLong)
	}
	if modes["ctx"] {
		runLeak(leakCtx)
	}
	if modes["fdleak"] {
		go leakFiles(newPacer(&ready)) // GO-SITE:fdleak
	}
	if modes["fdclose"] {
		go openCloseFiles(newPacer(&ready)) // GO-SITE:fdclose
	}
	if modes["pool"] {
		jobs := make(chan []byte, 64)
		startPool(*poolSize, jobs)
		go feedPool(jobs)
	}
	if modes["burst"] {
		drivers.Add(1)
		go burstLoop(start)
	}
	ready.Wait()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	usr1 := make(chan os.Signal, 1) // SIGUSR1: quiesce now (tests time it)
	signal.Notify(usr1, syscall.SIGUSR1)
	ticker := time.NewTicker(*interval)
	var deadline, quiet <-chan time.Time
	if *duration > 0 {
		deadline = time.After(*duration)
	}
	if *quiesceAfter > 0 {
		quiet = time.After(*quiesceAfter - time.Since(start))
	}
	usr2 := make(chan os.Signal, 1) // SIGUSR2: the program's own leak profile
	signal.Notify(usr2, syscall.SIGUSR2)
	say("ready pid=%d modes=%s go=%s", os.Getpid(), strings.Join(list, ","), runtime.Version())
	if *blockMain {
		go statusLoop(start, ticker, deadline, quiet, usr1, usr2, sigs)
		select {}
	}
	statusLoop(start, ticker, deadline, quiet, usr1, usr2, sigs)
}

// statusLoop prints status lines and serves the signals until the end.
func statusLoop(start time.Time, ticker *time.Ticker, deadline, quiet <-chan time.Time, usr1, usr2, sigs chan os.Signal) {
	for tick := 0; ; {
		select {
		case <-ticker.C:
			tick++
			say("tick=%d elapsed_s=%.3f numgoroutine=%d fds=%d",
				tick, time.Since(start).Seconds(), runtime.NumGoroutine(), countFDs())
			if *memstats {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				say("memstats elapsed_s=%.3f stack_inuse=%d stack_sys=%d heap_inuse=%d",
					time.Since(start).Seconds(), m.StackInuse, m.StackSys, m.HeapInuse)
			}
		case <-quiet:
			quiet, usr1 = nil, nil
			quiesce()
		case <-usr1:
			quiet, usr1 = nil, nil
			quiesce()
		case <-usr2:
			say("%s", leakProfile())
		case <-sigs:
			say("exit signal")
			os.Exit(0)
		case <-deadline:
			say("exit duration")
			os.Exit(0)
		}
	}
}
