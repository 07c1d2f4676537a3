package policy

import (
	"fmt"
	"sync"
)

// Cache parses policy documents once and keeps them by content. It is safe for
// concurrent use; it starts over beyond MaxCached documents, so memory stays
// bounded whatever documents come through.
//
// A document that does not parse fails the whole lookup (fails closed): had
// it been a Deny, skipping it would allow what it forbids.
type Cache struct {
	mu sync.RWMutex
	m  map[string]cached
}

// MaxCached is how many parsed documents a Cache keeps.
const MaxCached = 4096

type cached struct {
	p   *Policy
	err error
}

// Parse returns the parsed documents in order, or the first document's parse
// error.
func (c *Cache) Parse(docs []string) ([]*Policy, error) {
	out := make([]*Policy, 0, len(docs))
	for i, doc := range docs {
		c.mu.RLock()
		e, ok := c.m[doc]
		c.mu.RUnlock()
		if !ok {
			p, err := Parse([]byte(doc))
			e = cached{p: p, err: err}
			c.mu.Lock()
			if c.m == nil || len(c.m) >= MaxCached {
				c.m = make(map[string]cached)
			}
			c.m[doc] = e
			c.mu.Unlock()
		}
		if e.err != nil {
			return nil, fmt.Errorf("identity policy %d does not parse: %w", i+1, e.err)
		}
		out = append(out, e.p)
	}
	return out, nil
}
