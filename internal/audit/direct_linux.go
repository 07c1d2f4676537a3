package audit

import (
	"os"
	"syscall"
)

// openDirect opens path for direct writes, or returns nil when the file
// system does not support O_DIRECT (e.g. tmpfs): then writes go through the
// page cache.
func openDirect(path string) *directWriter {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return newDirectWriter(f)
}
