package listener

import (
	"fmt"
	"net"
	"syscall"
)

const (
	spliceMove     = 0x1  // SPLICE_F_MOVE
	spliceNonblock = 0x2  // SPLICE_F_NONBLOCK
	fSetPipeSz     = 1031 // F_SETPIPE_SZ
)

// kpipe is one kernel pipe used to splice socket to socket.
type kpipe struct{ r, w int }

func newKpipe() (*kpipe, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("splice pipe: %w", err)
	}
	// A failure (pipe-max-size lowered) leaves the default 64 KiB: each
	// splice then moves less, which is slower but still correct.
	syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), fSetPipeSz, spliceChunk)
	return &kpipe{r: fds[0], w: fds[1]}, nil
}

func (k *kpipe) close() {
	syscall.Close(k.r)
	syscall.Close(k.w)
}

// readinessCopy copies src to dst, borrowing a pipe (or, over the pipe
// cap, a buffer) only once src is readable, so a quiet tunnel holds
// neither. It reports false when src is not a raw socket.
func readinessCopy(dst, src net.Conn, last *lastActive) (int64, bool, error) {
	var total int64
	ss, ok := src.(syscall.Conn)
	if !ok {
		return 0, false, nil
	}
	rsrc, err := ss.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var rdst syscall.RawConn
	if ds, ok := dst.(syscall.Conn); ok {
		rdst, _ = ds.SyscallConn()
	}
	for {
		n, kp, bp, err := readChunk(rsrc, rdst != nil)
		if n > 0 {
			last.touch()
		}
		total += int64(n)
		if kp != nil {
			if n > 0 {
				if werr := drainPipe(rdst, kp, n); werr != nil {
					pipes.discard(kp)
					return total, true, werr
				}
			}
			pipes.put(kp)
		} else if bp != nil {
			var werr error
			if n > 0 {
				_, werr = dst.Write((*bp)[:n])
			}
			copyBufs.Put(bp)
			if werr != nil {
				return total, true, werr
			}
		}
		if err != nil || n == 0 {
			return total, true, err
		}
	}
}

// readChunk waits until src is readable, then moves what is there into a
// borrowed pipe (when splice is allowed and a pipe is free) or buffer.
// n == 0 with a nil error is EOF.
func readChunk(src syscall.RawConn, splice bool) (n int, kp *kpipe, bp *[]byte, err error) {
	var rerr error
	perr := src.Read(func(fd uintptr) bool {
		if splice {
			kp = pipes.get()
		}
		if kp != nil {
			for {
				m, e := syscall.Splice(int(fd), nil, kp.w, nil, spliceChunk, spliceMove|spliceNonblock)
				if e == syscall.EINTR {
					continue
				}
				if e == syscall.EAGAIN {
					pipes.put(kp)
					kp = nil
					return false
				}
				n, rerr = int(m), e
				transfersSpliced.Add(1)
				return true
			}
		}
		bp = copyBufs.Get().(*[]byte)
		for {
			m, e := syscall.Read(int(fd), *bp)
			if e == syscall.EINTR {
				continue
			}
			if e == syscall.EAGAIN {
				copyBufs.Put(bp)
				bp = nil
				return false
			}
			n, rerr = max(m, 0), e
			transfersBuffered.Add(1)
			return true
		}
	})
	if perr != nil {
		return n, kp, bp, perr
	}
	if rerr != nil {
		return n, kp, bp, fmt.Errorf("tunnel read: %w", rerr)
	}
	return n, kp, bp, nil
}

// drainPipe splices n bytes from kp to dst, waiting while dst is full.
func drainPipe(dst syscall.RawConn, kp *kpipe, n int) error {
	for n > 0 {
		var m int
		var werr error
		perr := dst.Write(func(fd uintptr) bool {
			for {
				k, e := syscall.Splice(kp.r, nil, int(fd), nil, n, spliceMove|spliceNonblock)
				if e == syscall.EINTR {
					continue
				}
				if e == syscall.EAGAIN {
					return false
				}
				m, werr = int(k), e
				return true
			}
		})
		if perr != nil {
			return perr
		}
		if werr != nil {
			return fmt.Errorf("tunnel write: %w", werr)
		}
		if m == 0 {
			return fmt.Errorf("tunnel write: %w", syscall.EPIPE)
		}
		n -= m
	}
	return nil
}
