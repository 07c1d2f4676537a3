package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// Position is a place in the journal's commit order: a segment and a byte offset in it.
// Records are read after it in the order they were committed. The zero Position is the
// start of the journal.
type Position struct {
	Seg uint64 `json:"seg"`
	Off int64  `json:"off"`
}

// Record is one committed journal line with the fields a reader needs to route it.
type Record struct {
	Line      json.RawMessage // the CloudTrail record as written (no newline)
	EventTime time.Time
	Region    string
	Source    string // eventSource
	Account   string // recipientAccountId ("" for a request that was not authenticated)
	ReadOnly  bool   // readOnly
	// Management is managementEvent (every event Coffer records is a management event).
	Management bool
}

// ReadSince returns up to max committed records after pos, in commit order, and the
// position after the last one returned (pos itself when there is nothing new). A
// position in a pruned segment continues at the oldest segment left. Lines that are not
// valid records are skipped.
func (j *Journal) ReadSince(pos Position, max int) ([]Record, Position, error) {
	type segView struct {
		seq  uint64
		path string
		size int64
	}
	j.mu.RLock()
	views := make([]segView, 0, len(j.segs))
	for _, s := range j.segs {
		if s.seq >= pos.Seg {
			views = append(views, segView{s.seq, s.path, s.size})
		}
	}
	j.mu.RUnlock()
	var out []Record
	for _, v := range views {
		start := int64(0)
		if v.seq == pos.Seg {
			start = pos.Off
		}
		if start >= v.size {
			pos = Position{Seg: v.seq, Off: v.size}
			continue
		}
		// Read the segment in chunks (a chunk grows only for a line longer than it), so
		// that a call reads about what it returns, not the rest of a 64 MiB segment.
		off, chunk := start, int64(readChunk)
		for off < v.size && len(out) < max {
			data, err := readRangeFn(v.path, off, min(off+chunk, v.size))
			if err != nil {
				return out, pos, err
			}
			end := int64(0)
			for end < int64(len(data)) && len(out) < max {
				i := indexNL(data[end:])
				if i < 0 {
					break
				}
				line := data[end : end+int64(i)]
				end += int64(i) + 1
				var e struct {
					EventID   string    `json:"eventID"`
					EventTime time.Time `json:"eventTime"`
					Region    string    `json:"awsRegion"`
					Source    string    `json:"eventSource"`
					Account   string    `json:"recipientAccountId"`
					ReadOnly  bool      `json:"readOnly"`
					Mgmt      bool      `json:"managementEvent"`
				}
				if json.Unmarshal(line, &e) != nil || e.EventID == "" || e.EventTime.IsZero() {
					continue
				}
				out = append(out, Record{Line: append(json.RawMessage(nil), line...), EventTime: e.EventTime.UTC(), Region: e.Region, Source: e.Source, Account: e.Account,
					ReadOnly: e.ReadOnly, Management: e.Mgmt})
			}
			if end == 0 {
				if off+int64(len(data)) >= v.size {
					break // a torn tail without a newline
				}
				chunk *= 2 // a line longer than the chunk
				continue
			}
			off += end
		}
		end := off - start
		pos = Position{Seg: v.seq, Off: start + end}
		if len(out) >= max {
			break
		}
	}
	return out, pos, nil
}

// readChunk is how much of a segment ReadSince reads at a time.
var readChunk = 1 << 20

var readRangeFn = readRange // tests count what is read

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

func readRange(path string, from, to int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	b := make([]byte, to-from)
	n, err := f.ReadAt(b, from)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return b[:n], nil
}

// PositionAt returns a position from which reading finds every record with an event
// time at or after t: the start of the newest segment begun at least a minute before t
// (events are committed close to their time), or the start of the journal.
func (j *Journal) PositionAt(t time.Time) Position {
	j.mu.RLock()
	defer j.mu.RUnlock()
	var p Position
	for _, s := range j.segs {
		if s.start.After(t.Add(-time.Minute)) {
			break
		}
		p = Position{Seg: s.seq}
	}
	return p
}

// End returns the position after the last committed record.
func (j *Journal) End() Position {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if len(j.segs) == 0 {
		return Position{}
	}
	s := j.segs[len(j.segs)-1]
	return Position{Seg: s.seq, Off: s.size}
}
