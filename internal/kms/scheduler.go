package kms

import (
	"context"
	"errors"
	"time"
)

// Tick runs the scheduled work once, at the service clock's now: due automatic rotations,
// keys whose deletion date has passed, imported key material that expired, custom key
// store connection attempts that nothing finishes.
func (s *Service) Tick(ctx context.Context) error {
	return errors.Join(s.tickRotations(ctx), s.tickDeletions(ctx), s.tickImports(ctx), s.tickStores(ctx))
}

// Run calls Tick every interval until ctx ends. Errors are logged, not fatal.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Tick(ctx); err != nil {
				s.cfg.Logger.Warn("kms scheduler", "err", err)
			}
		}
	}
}
