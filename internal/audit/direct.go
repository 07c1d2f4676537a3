package audit

import (
	"fmt"
	"os"
	"unsafe"
)

// dioBlock is the alignment of direct writes: offsets, lengths and memory.
// 4096 covers devices with 512-byte and 4 KiB logical blocks.
const dioBlock = 4096

// directWriter appends to the active segment through a second descriptor
// opened with O_DIRECT (Linux), whole aligned blocks at a time: the data goes
// to the device at the write, so the commit's fdatasync has no page cache to
// write back, only the device cache to flush. On this project's VM that
// halves the CPU and latency of a commit (docs/performance.md). The partial
// last block is kept in memory and written again, followed by zeros, with
// the next commit; past the data the segment is zero-filled anyway.
//
// Readers (lookups, trail delivery, recovery) read the segment through the
// page cache. Linux keeps the two coherent: a direct write invalidates the
// cached pages of its range, waiting for readers that hold them, and our
// pages are never dirty or mapped, so the invalidation cannot fail.
// Readers only read committed ranges, whose bytes a rewrite of the last
// block leaves unchanged (TestDirectWritesReadBackAtOnce).
type directWriter struct {
	f    *os.File
	buf  []byte // aligned to dioBlock
	end  int64  // where the data ends (the next write's offset)
	tail []byte // the data of the block holding end, before end
}

// newDirectWriter wraps f (opened with O_DIRECT) for a segment whose data
// ends at 0.
func newDirectWriter(f *os.File) *directWriter {
	return &directWriter{f: f, tail: make([]byte, 0, dioBlock)}
}

// alignedBuf returns a buffer of n bytes (n a multiple of dioBlock) whose
// first byte is aligned to dioBlock, reusing w.buf when it is large enough.
func (w *directWriter) alignedBuf(n int) []byte {
	if cap(w.buf) < n {
		raw := make([]byte, n+dioBlock)
		off := 0
		if r := int(uintptr(unsafe.Pointer(&raw[0])) % dioBlock); r != 0 {
			off = dioBlock - r
		}
		w.buf = raw[off : off+n : off+n]
	}
	return w.buf[:n]
}

// writeAt writes p at off, which must be where the previous write ended.
func (w *directWriter) writeAt(p []byte, off int64) error {
	if off != w.end {
		return fmt.Errorf("audit: direct write at %d, data ends at %d", off, w.end)
	}
	start := off - int64(len(w.tail))
	total := len(w.tail) + len(p)
	n := (total + dioBlock - 1) / dioBlock * dioBlock
	buf := w.alignedBuf(n)
	copy(buf, w.tail)
	copy(buf[len(w.tail):], p)
	clear(buf[total:])
	if _, err := w.f.WriteAt(buf, start); err != nil {
		return err
	}
	w.end = off + int64(len(p))
	keep := total % dioBlock
	w.tail = append(w.tail[:0], buf[total-keep:total]...)
	return nil
}

func (w *directWriter) Close() error { return w.f.Close() }
