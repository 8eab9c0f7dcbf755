package server

// Pushing a config change to every stream is a burst of work that ends:
// a few goroutines (GOMAXPROCS, since sending is CPU work) drain a queue of
// woken streams and exit. A stream costs no goroutine of its own beyond the
// one gRPC receives on, and a push costs no goroutine per stream.
//
// A worker must never block, or one stuck proxy would stall the push to
// all the others. gRPC's Send blocks only when a stream's unwritten bytes
// exhaust its write quota (64 KiB), and a proxy has read, so gRPC has
// written, every response it has answered. So a worker sends only to a
// stream with no response awaiting an answer; any other stream is left to
// its own receive loop, which pushes the newest config once the proxy
// answers (coalescing a burst of changes into one push, too).

// enqueue queues streams for a push and starts workers as needed.
func (s *Server) enqueue(sts []*stream) {
	if len(sts) == 0 {
		return
	}
	s.qmu.Lock()
	for _, st := range sts {
		if !st.queued {
			st.queued = true
			s.pushes = append(s.pushes, st)
		}
	}
	start := min(s.workers-s.active, len(s.pushes))
	s.active += start
	s.qmu.Unlock()
	for range start {
		go s.pushWorker()
	}
}

func (s *Server) pushWorker() {
	for {
		s.qmu.Lock()
		if len(s.pushes) == 0 {
			s.pushes = nil // drop the drained array, which may be large
			s.active--
			s.qmu.Unlock()
			return
		}
		st := s.pushes[0]
		s.pushes[0] = nil
		s.pushes = s.pushes[1:]
		st.queued = false
		s.qmu.Unlock()
		st.mu.Lock()
		if !st.closed {
			st.pending = true
			if st.awaiting() == 0 {
				// The error ends the stream; its receive loop sees it too.
				_ = st.pushAll()
			}
		}
		st.mu.Unlock()
	}
}
