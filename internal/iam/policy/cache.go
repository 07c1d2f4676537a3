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
	m  [numLayers]map[string]cached // by layer, then document
}

// MaxCached is how many parsed documents a Cache keeps (per layer).
const MaxCached = 4096

type cached struct {
	p   *Policy
	err error
}

// Parse returns the parsed documents in order, or the first document's parse
// error.
func (c *Cache) Parse(docs []string) ([]*Policy, error) {
	return c.Append(make([]*Policy, 0, len(docs)), docs, IdentityLayer)
}

// Append appends the documents parsed as policies of layer l to out, or
// returns the first document's parse error.
func (c *Cache) Append(out []*Policy, docs []string, l Layer) ([]*Policy, error) {
	for i, doc := range docs {
		c.mu.RLock()
		e, ok := c.m[l][doc]
		c.mu.RUnlock()
		if !ok {
			p, err := Parse([]byte(doc))
			if err == nil {
				p = p.As(l)
			}
			e = cached{p: p, err: err}
			c.mu.Lock()
			if c.m[l] == nil || len(c.m[l]) >= MaxCached {
				c.m[l] = make(map[string]cached)
			}
			c.m[l][doc] = e
			c.mu.Unlock()
		}
		if e.err != nil {
			return nil, fmt.Errorf("%s %d does not parse: %w", layerNames[l], i+1, e.err)
		}
		out = append(out, e.p)
	}
	return out, nil
}

var layerNames = [numLayers]string{IdentityLayer: "identity policy", BoundaryLayer: "permissions boundary", SessionLayer: "session policy"}
