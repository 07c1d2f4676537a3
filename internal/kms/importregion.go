package kms

import "context"

// importRegionOps: import of key material, Multi-Region keys.
var importRegionOps = map[string]Op{}

func (s *Service) tickImports(ctx context.Context) error { return nil }
