package sgemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Waking a parked goroutine on another core costs about 100 µs on the
// virtual machine this was tuned on (measured: a fork-join of two 340 µs
// halves took 470 µs). That is the whole budget of a small GEMM, so helper
// goroutines spin for a while after each task, the way ONNX Runtime's
// thread pool does, and a task a helper has not picked up yet is taken
// back and run by the caller rather than waited for.

// spinFor is how long an idle helper polls for new work before parking.
const spinFor = 2 * time.Millisecond

// helper is one spinning worker goroutine.
type helper struct {
	task   atomic.Pointer[task]
	parked atomic.Bool
	wake   chan struct{}
}

// task is one unit of work handed to a helper.
type task struct {
	f    func(lo, hi int)
	lo   int
	hi   int
	done atomic.Bool
}

// helpers are started on first use and live for the life of the process,
// like the runtime's own worker threads; they only ever run tasks given
// to them by Parallel.
var helpers struct {
	mu   sync.Mutex
	idle []*helper
}

func getHelper() *helper {
	helpers.mu.Lock()
	defer helpers.mu.Unlock()
	if n := len(helpers.idle); n > 0 {
		h := helpers.idle[n-1]
		helpers.idle = helpers.idle[:n-1]
		return h
	}
	h := &helper{wake: make(chan struct{}, 1)}
	go h.loop()
	return h
}

func putHelper(h *helper) {
	helpers.mu.Lock()
	helpers.idle = append(helpers.idle, h)
	helpers.mu.Unlock()
}

func (h *helper) loop() {
	last := time.Now()
	for spins := 0; ; spins++ {
		if t := h.task.Swap(nil); t != nil {
			t.f(t.lo, t.hi)
			t.done.Store(true)
			last = time.Now()
			continue
		}
		if spins%64 != 0 {
			continue
		}
		if time.Since(last) < spinFor {
			runtime.Gosched()
			continue
		}
		// Park. Publishing parked before the last look for a task means a
		// submitter either sees parked (and sends a token) or its task is
		// seen here.
		h.parked.Store(true)
		if h.task.Load() != nil && h.parked.CompareAndSwap(true, false) {
			continue
		}
		<-h.wake
		last = time.Now()
	}
}

func (h *helper) submit(t *task) {
	h.task.Store(t)
	if h.parked.CompareAndSwap(true, false) {
		h.wake <- struct{}{}
	}
}

// Parallel runs f over [0, n) split into at most threads contiguous chunks,
// one per goroutine, the calling goroutine taking the last chunk, and
// returns when all are done. Chunks are whole multiples of grain (except
// the last). It is the fork-join the GEMM uses and is exported so that
// operators around it can share its spinning helpers.
func Parallel(n, grain, threads int, f func(lo, hi int)) {
	grain = max(grain, 1)
	units := (n + grain - 1) / grain
	parts := min(max(threads, 1), units)
	if parts <= 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	var local [8]task
	var localH [8]*helper
	tasks, hs := local[:0], localH[:0]
	if parts-1 > len(local) {
		tasks, hs = make([]task, 0, parts-1), make([]*helper, 0, parts-1)
	}
	tasks = tasks[:parts-1]
	for w := range parts - 1 {
		t := &tasks[w]
		t.f, t.lo, t.hi = f, min(units*w/parts*grain, n), min(units*(w+1)/parts*grain, n)
		h := getHelper()
		hs = append(hs, h)
		h.submit(t)
	}
	f(min(units*(parts-1)/parts*grain, n), n)
	for w, h := range hs {
		t := &tasks[w]
		// Take back a task its helper has not started: waiting for a
		// parked helper to wake up would cost more than running it here.
		if h.task.CompareAndSwap(t, nil) {
			t.f(t.lo, t.hi)
			t.done.Store(true)
		}
		for spins := 0; !t.done.Load(); spins++ {
			if spins%64 == 63 {
				runtime.Gosched()
			}
		}
		putHelper(h)
	}
}
