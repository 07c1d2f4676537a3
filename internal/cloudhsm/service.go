package cloudhsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coffer-hsm/coffer/internal/backup"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/state"
)

// Proposer commits commands to the replicated state (*state.Store).
type Proposer interface {
	Propose(ctx context.Context, typ string, version int, body any) (any, error)
}

// Snapshotter gives the encoded whole replicated state for backups (*state.Store).
type Snapshotter interface {
	SnapshotData() ([]byte, uint64, error)
}

// Config configures the CloudHSM service of one node.
type Config struct {
	HSM         *hsm.HSM
	Proposer    Proposer
	Snapshotter Snapshotter
	// Store holds backup archives; nil disables backups.
	Store backup.Store
	// ShareDir receives the offline share of each backup of a cluster without custodian
	// keys (SetCustodians): <backup-id>.share, mode 0600. Without it such clusters cannot
	// be backed up.
	ShareDir string
	// NodeID and Zone identify this node and its availability zone (e.g. us-east-1a).
	NodeID, Zone string
	// Subnets are the subnets the node knows: subnet id -> availability zone
	// (`coffer server --subnet subnet-…=<az>`). Without one in Zone, the node knows
	// DefaultSubnet(Zone) there.
	Subnets map[string]string
	// Region and Account own the --dev cluster (EnsureDevCluster); defaults "us-east-1"
	// and "000000000000".
	Region, Account string
	// BackupInterval is the age of a cluster's newest backup at which Tick takes a new
	// one (default 24 h).
	BackupInterval time.Duration
	// InitialPolicy is the login policy InitializeCluster gives the HSM core (the zero
	// value means hsm.DefaultPolicy()).
	InitialPolicy hsm.Policy
	Now           func() time.Time // default time.Now
	Logger        *slog.Logger
}

// DefaultSubnet is the subnet id a node gives its zone when no --subnet of that zone is
// configured: "subnet-" and 17 hex digits derived from the zone.
func DefaultSubnet(zone string) string { return "subnet-" + derivedHex(17, "subnet", zone) }

// Caller is who calls an operation, from the verified request.
type Caller struct {
	Region    string
	Account   string
	Principal string // ARN
}

// Service is the CloudHSM control plane of one node. It implements state.Part ("cloudhsm").
type Service struct {
	cfg Config

	mu       sync.RWMutex
	clusters map[string]*clusterRec
	backups  map[string]*backupRec
	members  map[string]*Member

	backupMu sync.Mutex // serializes backup writers (CreateBackup, Tick)
}

var _ state.Part = (*Service)(nil)

// New returns the service with empty state.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.InitialPolicy == (hsm.Policy{}) {
		cfg.InitialPolicy = hsm.DefaultPolicy()
	}
	if cfg.BackupInterval <= 0 {
		cfg.BackupInterval = 24 * time.Hour
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Account == "" {
		cfg.Account = "000000000000"
	}
	if cfg.Zone == "" {
		cfg.Zone = cfg.Region + "a"
	}
	// The node's zone always has a subnet: the configured one, or a default subnet id
	// derived from the zone (what a --dev cluster uses).
	subnets := make(map[string]string, len(cfg.Subnets)+1)
	hasZone := false
	for id, az := range cfg.Subnets {
		subnets[id] = az
		hasZone = hasZone || az == cfg.Zone
	}
	if !hasZone {
		subnets[DefaultSubnet(cfg.Zone)] = cfg.Zone
	}
	cfg.Subnets = subnets
	s := &Service{cfg: cfg}
	s.reset()
	return s
}

// Attach sets the proposer and, when it is one, the snapshotter (the state store is opened
// after the parts are created).
func (s *Service) Attach(p Proposer) {
	s.cfg.Proposer = p
	if sn, ok := p.(Snapshotter); ok && s.cfg.Snapshotter == nil {
		s.cfg.Snapshotter = sn
	}
}

func (s *Service) reset() {
	s.clusters = map[string]*clusterRec{}
	s.backups = map[string]*backupRec{}
	s.members = map[string]*Member{}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Name implements state.Part.
func (s *Service) Name() string { return "cloudhsm" }

// Snapshot implements state.Part.
func (s *Service) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(persisted{Format: snapshotFormat, Version: snapshotVersion,
		Clusters: s.clusters, Backups: s.backups, Members: s.members})
}

func decodeSnapshot(data []byte) (persisted, error) {
	var p persisted
	if data == nil {
		return p, nil
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("cloudhsm: restore: %w", err)
	}
	if p.Format != snapshotFormat || p.Version != snapshotVersion {
		return p, fmt.Errorf("cloudhsm: restore: unsupported snapshot %q version %d", p.Format, p.Version)
	}
	return p, nil
}

// ValidateSnapshot implements state.SnapshotValidator.
func (s *Service) ValidateSnapshot(data []byte) error {
	_, err := decodeSnapshot(data)
	return err
}

// Restore implements state.Part.
func (s *Service) Restore(data []byte) error {
	p, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
	if p.Clusters != nil {
		s.clusters = p.Clusters
	}
	if p.Backups != nil {
		s.backups = p.Backups
	}
	if p.Members != nil {
		s.members = p.Members
	}
	return nil
}

// ---- commands ----

const (
	cmdPutCluster = "cloudhsm.cluster.put"
	cmdPutBackup  = "cloudhsm.backup.put"
)

// putClusterCmd creates (Expect 0) or replaces a cluster whose revision is Expect. Bind
// records a node membership (refused if the node already provides an HSM); Unbind removes
// the membership of an HSM id.
type putClusterCmd struct {
	Cluster *clusterRec `json:"cluster"`
	Expect  uint64      `json:"expect"`
	Bind    *Member     `json:"bind,omitempty"`
	Unbind  string      `json:"unbind,omitempty"`
}

// putBackupCmd creates (Expect 0) or replaces a backup record whose revision is Expect.
type putBackupCmd struct {
	Backup *backupRec `json:"backup"`
	Expect uint64     `json:"expect"`
}

// errConflict means a record changed between read and write; the operation retries.
var errConflict = errors.New("cloudhsm: concurrent update, retry")

type applyFunc func(s *Service, t time.Time, body json.RawMessage) (any, error)

var applyTable = map[string]applyFunc{
	cmdPutCluster: applyPutCluster,
	cmdPutBackup:  applyPutBackup,
}

// Apply implements state.Part.
func (s *Service) Apply(index uint64, cmd state.Command) (any, error) {
	fn, ok := applyTable[cmd.Type]
	if !ok || cmd.Version != 1 {
		return nil, fmt.Errorf("cloudhsm: unknown command %s v%d", cmd.Type, cmd.Version)
	}
	return fn(s, cmd.Time, cmd.Body)
}

func applyPutCluster(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[putClusterCmd](body)
	if err != nil {
		return nil, err
	}
	if c.Cluster == nil || c.Cluster.ID == "" {
		return nil, errors.New("cloudhsm: cluster put without a cluster")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.clusters[c.Cluster.ID]
	if (old == nil && c.Expect != 0) || (old != nil && old.Revision != c.Expect) {
		return nil, errConflict
	}
	if old == nil {
		for _, o := range s.clusters {
			if o.State != ClusterDeleted {
				return nil, limit("a Coffer node holds one cluster and %s is not deleted; delete it first or run another Coffer deployment", o.ID)
			}
		}
	}
	if c.Bind != nil {
		for _, m := range s.members {
			if m.NodeID == c.Bind.NodeID {
				return nil, limit("node %s already provides HSM %s of cluster %s: a Coffer node provides one HSM; more HSMs need more nodes", m.NodeID, m.HsmID, m.ClusterID)
			}
		}
	}
	if c.Unbind != "" {
		delete(s.members, c.Unbind)
	}
	if c.Bind != nil {
		m := *c.Bind
		s.members[m.HsmID] = &m
	}
	c.Cluster.Revision = c.Expect + 1
	s.clusters[c.Cluster.ID] = c.Cluster
	return nil, nil
}

func applyPutBackup(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[putBackupCmd](body)
	if err != nil {
		return nil, err
	}
	if c.Backup == nil || c.Backup.ID == "" {
		return nil, errors.New("cloudhsm: backup put without a backup")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.backups[c.Backup.ID]
	if (old == nil && c.Expect != 0) || (old != nil && old.Revision != c.Expect) {
		return nil, errConflict
	}
	c.Backup.Revision = c.Expect + 1
	s.backups[c.Backup.ID] = c.Backup
	return nil, nil
}

func (s *Service) propose(ctx context.Context, typ string, body any) error {
	if s.cfg.Proposer == nil {
		return errors.New("cloudhsm: no state store attached")
	}
	_, err := s.cfg.Proposer.Propose(ctx, typ, 1, body)
	return err
}

// errNoChange returned by an update function skips the write.
var errNoChange = errors.New("cloudhsm: no change")

// getCluster returns a copy of the cluster id visible in region ("" means any region).
func (s *Service) getCluster(region, id string) (*clusterRec, error) {
	if !clusterIDRE.MatchString(id) {
		return nil, invalid("ClusterId %q is not a valid cluster id (cluster-[2-7a-zA-Z]{11,16})", clip(id))
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.clusters[id]
	if c == nil || (region != "" && c.Region != region) {
		return nil, notFound("cluster %s not found", id)
	}
	return c.clone(), nil
}

// updateCluster runs a read-modify-write of a cluster, retrying on concurrent updates. fn
// changes a copy and may set the command's Bind/Unbind.
func (s *Service) updateCluster(ctx context.Context, region, id string, fn func(c *clusterRec, cmd *putClusterCmd) error) (*clusterRec, error) {
	for range 10 {
		old, err := s.getCluster(region, id)
		if err != nil {
			return nil, err
		}
		nc := old.clone()
		cmd := putClusterCmd{Cluster: nc, Expect: old.Revision}
		if err := fn(nc, &cmd); err != nil {
			if errors.Is(err, errNoChange) {
				return old, nil
			}
			return nil, err
		}
		err = s.propose(ctx, cmdPutCluster, cmd)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		nc.Revision = old.Revision + 1
		return nc, nil
	}
	return nil, chErr(CodeInternal, "too many concurrent updates of cluster %s; retry", id)
}

// getBackup returns a copy of the backup id visible in region ("" means any region).
func (s *Service) getBackup(region, id string) (*backupRec, error) {
	if !backupIDRE.MatchString(id) {
		return nil, invalid("BackupId %q is not a valid backup id (backup-[2-7a-zA-Z]{11,16})", clip(id))
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.backups[id]
	if b == nil || (region != "" && b.Region != region) {
		return nil, notFound("backup %s not found", id)
	}
	return b.clone(), nil
}

func (s *Service) updateBackup(ctx context.Context, region, id string, fn func(b *backupRec) error) (*backupRec, error) {
	for range 10 {
		old, err := s.getBackup(region, id)
		if err != nil {
			return nil, err
		}
		nb := old.clone()
		if err := fn(nb); err != nil {
			if errors.Is(err, errNoChange) {
				return old, nil
			}
			return nil, err
		}
		err = s.propose(ctx, cmdPutBackup, putBackupCmd{Backup: nb, Expect: old.Revision})
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		nb.Revision = old.Revision + 1
		return nb, nil
	}
	return nil, chErr(CodeInternal, "too many concurrent updates of backup %s; retry", id)
}

// clip shortens user input echoed in messages.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
