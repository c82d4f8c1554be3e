package kernels

import (
	"reflect"
	"sync"

	"github.com/ptq-dev/ptq/tensor"
)

// Buffer recycling. Every tensor an op allocates through Context.NewTensor
// while a graph runs is "owned" by that graph's frame. When the engine drops
// a value after its last use, and no live value of the frame shares memory
// with the dropped tensor's buffer (an op may return a view, as Reshape
// does), the buffer goes to the engine's pool and the next allocation of the
// same type and size reuses it. A run of a fixed-shape model thus allocates
// almost nothing after the first, and memory stays at the live set instead of
// growing with garbage between collections.
//
// Buffers the frame did not allocate (graph inputs, initializers, tensors
// from other frames or from tensor.New) are never recycled, and graph
// outputs stay live, so nothing handed to a caller is ever reused.

type poolKey struct {
	dt tensor.DType
	n  int
}

// enginePool holds free buffers by element type and length.
type enginePool struct {
	mu    sync.Mutex
	free  map[poolKey][]poolEntry
	bytes int64
	gen   uint64 // top-level runs started
}

type poolEntry struct {
	data any
	gen  uint64 // the run that freed it
}

// poolMaxBytes bounds what the pool keeps at any time.
const poolMaxBytes = 512 << 20

// poolKeepRuns is how many runs a free buffer may wait to be reused. When
// shapes change from run to run (images of different sizes) the buffers of
// sizes no longer asked for are dropped, so the pool stays about the size of
// one run's intermediates.
const poolKeepRuns = 2

func newEnginePool() *enginePool { return &enginePool{free: map[poolKey][]poolEntry{}} }

// startRun advances the generation and drops buffers no run has wanted for
// poolKeepRuns runs.
func (p *enginePool) startRun() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	for k, l := range p.free {
		kept := l[:0]
		for _, e := range l {
			if e.gen+poolKeepRuns >= p.gen {
				kept = append(kept, e)
			} else {
				p.bytes -= poolBytes(e.data)
			}
		}
		clear(l[len(kept):])
		if len(kept) == 0 {
			delete(p.free, k)
		} else {
			p.free[k] = kept
		}
	}
}

func (p *enginePool) get(k poolKey) any {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.free[k]
	if len(l) == 0 {
		return nil
	}
	data := l[len(l)-1].data
	l[len(l)-1] = poolEntry{}
	p.free[k] = l[:len(l)-1]
	p.bytes -= poolBytes(data)
	return data
}

func (p *enginePool) put(k poolKey, data any) {
	b := poolBytes(data)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+b > poolMaxBytes {
		return // left to the garbage collector
	}
	p.free[k] = append(p.free[k], poolEntry{data, p.gen})
	p.bytes += b
}

func poolBytes(data any) int64 {
	v := reflect.ValueOf(data)
	return int64(v.Len()) * int64(v.Type().Elem().Size())
}

// poolSpan is the address range of a tensor's data, [lo, hi); empty for
// empty data.
func poolSpan(data any) (lo, hi uintptr) {
	v := reflect.ValueOf(data)
	if v.Kind() != reflect.Slice || v.Len() == 0 {
		return 0, 0
	}
	lo = v.Pointer()
	return lo, lo + uintptr(v.Len())*v.Type().Elem().Size()
}

// ownedBuf is a buffer a frame allocated and may give back to the pool.
type ownedBuf struct {
	key    poolKey
	data   any
	lo, hi uintptr
}

// frameAlloc is the allocator behind Context.NewTensor for one frame. Ops
// may allocate from several goroutines, hence the lock.
type frameAlloc struct {
	pool  *enginePool
	mu    sync.Mutex
	owned map[uintptr]*ownedBuf // by start address
}

func (a *frameAlloc) alloc(dt tensor.DType, shape []int, zero bool) *tensor.Tensor {
	n := tensor.NumElements(shape)
	if n == 0 || dt == tensor.String {
		return tensor.New(dt, shape...)
	}
	k := poolKey{dt, n}
	data := a.pool.get(k)
	if data == nil {
		data = tensor.MakeSlice(dt, n)
	} else if zero {
		reflect.ValueOf(data).Clear()
	}
	lo, hi := poolSpan(data)
	a.mu.Lock()
	a.owned[lo] = &ownedBuf{key: k, data: data, lo: lo, hi: hi}
	a.mu.Unlock()
	return &tensor.Tensor{DType: dt, Shape: append([]int(nil), shape...), Data: data}
}

// release is called once t is no longer held under its name; live holds the
// frame's remaining values. The buffer t starts is recycled when the frame
// owns it and no live value overlaps it. A view that does not start its
// buffer (a slice of another tensor) recycles nothing: the buffer is left to
// the garbage collector, which is always safe.
func (a *frameAlloc) release(t *tensor.Tensor, live map[string]*tensor.Tensor) {
	if t == nil {
		return
	}
	lo, _ := poolSpan(t.Data)
	if lo == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.owned[lo]
	if b == nil {
		return
	}
	for _, v := range live {
		if vlo, vhi := poolSpan(v.Data); vlo < b.hi && b.lo < vhi {
			return // still visible through another value
		}
	}
	delete(a.owned, lo)
	a.pool.put(b.key, b.data)
}
