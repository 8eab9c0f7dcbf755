package listener

import (
	"sync"
	"sync/atomic"
)

// The Go runtime splices TCP-to-TCP copies through pipes from a pool that
// only the garbage collector shrinks: each tunnel took 4 pipe fds, and
// 2,000 closed tunnels left 8,000 pipe fds open minutes later. Tunnels
// here borrow a pipe only while bytes are in flight and return it at once,
// so an idle tunnel holds no pipe and the pool never grows past its cap;
// past the cap a transfer falls back to a pooled buffer.

// DefaultMaxPipes is the pipe pool's cap until SetMaxPipes: 2 fds each.
const DefaultMaxPipes = 64

// spliceChunk is the most one splice moves, and the pipe size asked for
// (the default pipe-max-size). Measured on loopback moving 1 GiB
// (BenchmarkTunnelBulk, CPU-seconds of the whole benchmark process):
// 1 MiB pipes 2.35-2.50 s at 250-350 MB/s; 64 KiB pipes 2.8 s; pooled
// 32 KiB buffers 2.25-2.37 s at 180-235 MB/s; the runtime's splice
// 2.31-2.52 s. Splice costs the same CPU as buffers and moves bytes
// faster, so it is the first choice and buffers the fallback. A pipe's
// pages are freed as it drains, so an idle pooled pipe holds no memory.
const spliceChunk = 1 << 20

// copyBufSize is the fallback buffer, borrowed per transfer like a pipe.
const copyBufSize = 32 << 10

// pipePool holds idle splice pipes, LIFO, and caps how many exist.
type pipePool struct {
	mu   sync.Mutex
	idle []*kpipe
	open int // pipes in existence, idle or lent
	max  int
}

var pipes = &pipePool{max: DefaultMaxPipes}

// SetMaxPipes caps the splice pipes the process keeps (idle or in use);
// n <= 0 disables splicing, so tunnels copy through pooled buffers. The
// sidecar derives it from its fd budget. Pipes over a lowered cap close as
// they are returned.
func SetMaxPipes(n int) {
	pipes.mu.Lock()
	pipes.max = max(n, 0)
	pipes.mu.Unlock()
}

// PipeStats reports the pipes open (idle or lent) and the cap, for metrics
// and tests.
func PipeStats() (open, maxPipes int) {
	pipes.mu.Lock()
	defer pipes.mu.Unlock()
	return pipes.open, pipes.max
}

// get lends an empty pipe, or nil when the cap is reached.
func (p *pipePool) get() *kpipe {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		kp := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return kp
	}
	if p.open >= p.max {
		p.mu.Unlock()
		return nil
	}
	p.open++
	p.mu.Unlock()
	kp, err := newKpipe()
	if err != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		return nil
	}
	return kp
}

// put takes back an empty pipe, closing it when over the cap.
func (p *pipePool) put(kp *kpipe) {
	p.mu.Lock()
	if p.open > p.max {
		p.open--
		p.mu.Unlock()
		kp.close()
		return
	}
	p.idle = append(p.idle, kp)
	p.mu.Unlock()
}

// discard closes a pipe that may still hold bytes.
func (p *pipePool) discard(kp *kpipe) {
	p.mu.Lock()
	p.open--
	p.mu.Unlock()
	kp.close()
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// transfersSpliced and transfersBuffered count transfers by path, for
// tests.
var transfersSpliced, transfersBuffered atomic.Int64
