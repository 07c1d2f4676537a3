//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package main

import (
	"errors"
	"io"
	"os"
)

var errNoEchoUnsupported = errors.New("cannot turn off terminal echo on this platform")

// isTerminal reports whether r is a character device (a terminal, most likely).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// readNoEcho is not available here: the caller reads the line with echo.
func readNoEcho(fd int) ([]byte, error) { return nil, errNoEchoUnsupported }
