//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package main

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

var errNoEchoUnsupported = errors.New("cannot turn off terminal echo")

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlGetTermios)
	return err == nil
}

// readNoEcho reads a line from the terminal fd with echo turned off (for passwords).
func readNoEcho(fd int) ([]byte, error) {
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, errNoEchoUnsupported
	}
	t := *old
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ISIG
	t.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &t); err != nil {
		return nil, errNoEchoUnsupported
	}
	defer unix.IoctlSetTermios(fd, ioctlSetTermios, old)
	var line []byte
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if n == 1 {
			if b[0] == '\n' {
				return line, nil
			}
			line = append(line, b[0])
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return line, err
		}
		if len(line) == 0 {
			return nil, io.EOF
		}
		return line, nil
	}
}
