//go:build unix

package awsproto

import "syscall"

// writeNonblocking writes b to the non-blocking socket fd until it is all
// written or the socket buffer is full (EAGAIN), and returns how much it wrote.
func writeNonblocking(fd uintptr, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := syscall.Write(int(fd), b[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return n, nil
		case err != nil:
			return n, err
		}
		n += m
	}
	return n, nil
}
