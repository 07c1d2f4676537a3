package kms

import "context"

// lifecycleOps: rotation, deletion, GetKeyLastUsage.
var lifecycleOps = map[string]Op{}

func (s *Service) tickRotations(ctx context.Context) error { return nil }
func (s *Service) tickDeletions(ctx context.Context) error { return nil }
