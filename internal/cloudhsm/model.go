package cloudhsm

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/backup"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// Cluster, HSM and backup states, modes and HSM types: CloudHSM's names, persisted as these
// strings.
const (
	ClusterCreateInProgress     = "CREATE_IN_PROGRESS"
	ClusterUninitialized        = "UNINITIALIZED"
	ClusterInitializeInProgress = "INITIALIZE_IN_PROGRESS"
	ClusterInitialized          = "INITIALIZED"
	ClusterActive               = "ACTIVE"
	ClusterDeleted              = "DELETED"
	ClusterDegraded             = "DEGRADED"

	HsmActive  = "ACTIVE"
	HsmDeleted = "DELETED"

	BackupReady           = backup.StateReady
	BackupPendingDeletion = backup.StatePendingDeletion
	BackupDeleted         = backup.StateDeleted

	ModeFIPS    = "FIPS"
	ModeNonFIPS = "NON_FIPS"

	HsmType1 = "hsm1.medium"
	HsmType2 = "hsm2m.medium"

	// HsmTypeRollbackWindow is how long after ModifyCluster migrates a cluster from
	// hsm1.medium to hsm2m.medium it can be rolled back (AWS's 24 hours).
	HsmTypeRollbackWindow = 24 * time.Hour

	// DefaultRetentionDays is the default backup retention (CloudHSM's).
	DefaultRetentionDays = 90
	// MaxTags is the number of tags a resource may carry.
	MaxTags = 50
)

var (
	clusterIDRE = regexp.MustCompile(`^cluster-[2-7a-zA-Z]{11,16}$`)
	hsmIDRE     = regexp.MustCompile(`^hsm-[2-7a-zA-Z]{11,16}$`)
	backupIDRE  = regexp.MustCompile(`^backup-[2-7a-zA-Z]{11,16}$`)
	eniIDRE     = regexp.MustCompile(`^eni-[0-9a-fA-F]{8,17}$`)
	azRE        = regexp.MustCompile(`^[a-z]{2}(-(gov))?-(east|west|north|south|central){1,2}-\d[a-z]$`)
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-(gov))?-(east|west|north|south|central){1,2}-\d$`)
	subnetIDRE  = regexp.MustCompile(`^subnet-[0-9a-fA-F]{8,17}$`)
	backupARNRE = regexp.MustCompile(`^arn:aws(-(us-gov))?:cloudhsm:([a-z]{2}(-(gov|isob|iso))?-(east|west|north|south|central){1,2}-[0-9]{1}):([0-9]{12}):backup/(backup-[2-7a-zA-Z]{11,16})$`)
	resourceRE  = regexp.MustCompile(`^(?:cluster|backup)-[2-7a-zA-Z]{11,16}$`)
	tagRE       = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
)

// validIPv4 reports whether s is a dotted-quad IPv4 address: the model's IpAddress pattern
// (\d{1,3} four times) and, beyond it, octets of at most 255 without leading zeros, so that
// an address no subnet can hold (10.0.0.300) is refused instead of recorded.
func validIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4() && a.String() == s
}

// newID returns prefix + 11 lowercase base32 characters ([a-z2-7]), as CloudHSM's ids.
func newID(prefix string) string { return prefix + strings.ToLower(rand.Text()[:11]) }

// derivedHex is a stable hex string of n characters derived from parts.
func derivedHex(n int, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])[:n]
}

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
	// incomplete is set when the decoded JSON lacked Key or Value: both are required
	// members of the model's Tag (a Value may be "", but not absent).
	incomplete bool
}

// UnmarshalJSON decodes a tag and notes whether Key and Value were both given.
func (t *Tag) UnmarshalJSON(b []byte) error {
	var w struct {
		Key   *string `json:"Key"`
		Value *string `json:"Value"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = Tag{incomplete: w.Key == nil || w.Value == nil}
	if w.Key != nil {
		t.Key = *w.Key
	}
	if w.Value != nil {
		t.Value = *w.Value
	}
	return nil
}

// BackupRetentionPolicy is a cluster's backup retention: Type DAYS, Value "7".."379".
type BackupRetentionPolicy struct {
	Type  string `json:"Type,omitempty"`
	Value string `json:"Value,omitempty"`
}

// Member binds a Coffer node to an HSM of a cluster: the node provides that HSM.
type Member struct {
	HsmID     string `json:"hsm_id"`
	ClusterID string `json:"cluster_id"`
	NodeID    string `json:"node_id"`
	AZ        string `json:"az"`
}

// clusterRec is one cluster.
type clusterRec struct {
	ID            string            `json:"id"`
	Region        string            `json:"region"`
	Account       string            `json:"account"`
	Revision      uint64            `json:"revision"`
	HsmType       string            `json:"hsm_type"`
	Mode          string            `json:"mode"`
	State         string            `json:"state"` // stored state; see view for the reported one
	StateMessage  string            `json:"state_message,omitempty"`
	Created       time.Time         `json:"created"`
	RetentionDays int               `json:"retention_days"`
	Subnets       map[string]string `json:"subnets"` // AZ -> subnet id
	NetworkType   string            `json:"network_type"`
	CSR           string            `json:"csr,omitempty"`
	ClusterCert   string            `json:"cluster_cert,omitempty"`
	TrustAnchor   string            `json:"trust_anchor,omitempty"`
	Hsms          []hsmRec          `json:"hsms,omitempty"`
	Tags          []Tag             `json:"tags,omitempty"`
	Dev           bool              `json:"dev,omitempty"`
	// SourceBackupID is the backup a restored cluster was created from (CreateCluster
	// with SourceBackupId); such a cluster is initialized by RestoreCluster.
	SourceBackupID string `json:"source_backup_id,omitempty"`
	// Lineage identifies the domain key lineage: the id of the cluster that was first
	// initialized with it. Clusters restored from its backups inherit it. Empty in records
	// written before lineage existed: read it with lineage().
	Lineage string `json:"lineage,omitempty"`
	// DomainKeyID is the id of the domain key the cluster was initialized (or restored)
	// with. When the node's HSM holds another one (zeroized, then initialized afresh),
	// the cluster is reported DEGRADED: its keys are not there.
	DomainKeyID string `json:"domain_key_id,omitempty"`
	// Custodians hold the cluster's backup custodian keys: when set, each backup's domain
	// key is split CustodianThreshold-of-len(Custodians) and each share RSA-wrapped for
	// one custodian, instead of one offline share.
	Custodians         []custodianRec `json:"custodians,omitempty"`
	CustodianThreshold int            `json:"custodian_threshold,omitempty"`
	// HsmTypeRollbackUntil is set when ModifyCluster migrated the cluster from
	// hsm1.medium to hsm2m.medium: until then, ModifyCluster can roll it back.
	HsmTypeRollbackUntil time.Time `json:"hsm_type_rollback_until,omitzero"`
}

// custodianRec is a backup custodian: a name and an RSA public key (PEM).
type custodianRec struct {
	Name         string `json:"name"`
	PublicKeyPEM string `json:"public_key_pem"`
	Fingerprint  string `json:"fingerprint"` // backup.Fingerprint of the key
}

func (c *clusterRec) lineage() string {
	if c.Lineage != "" {
		return c.Lineage
	}
	return c.ID
}

type hsmRec struct {
	ID       string    `json:"id"`
	AZ       string    `json:"az"`
	SubnetID string    `json:"subnet_id"`
	EniID    string    `json:"eni_id"`
	EniIP    string    `json:"eni_ip"`
	NodeID   string    `json:"node_id"`
	Created  time.Time `json:"created"`
}

func (c *clusterRec) clone() *clusterRec {
	n := *c
	n.Subnets = make(map[string]string, len(c.Subnets))
	for k, v := range c.Subnets {
		n.Subnets[k] = v
	}
	n.Hsms = slices.Clone(c.Hsms)
	n.Tags = slices.Clone(c.Tags)
	n.Custodians = slices.Clone(c.Custodians)
	return &n
}

// eniIPv6 is the IPv6 address reported for HSM h of a DUALSTACK cluster: in a unique
// local prefix (fd00::/8) derived from the cluster's VPC, with an interface id derived
// from the HSM id. Like EniIp, it is recorded, not configured.
func (c *clusterRec) eniIPv6(h hsmRec) string {
	var b [16]byte
	b[0] = 0xfd
	p, _ := hex.DecodeString(derivedHex(14, "vpc6", c.Region, c.Account))
	copy(b[1:8], p)
	i, _ := hex.DecodeString(derivedHex(16, "eni6", h.ID))
	copy(b[8:], i)
	return netip.AddrFrom16(b).String()
}

func (c *clusterRec) vpcID() string { return "vpc-" + derivedHex(17, "vpc", c.Region, c.Account) }

// backupRec is one backup (or cross-region copy) in one region.
type backupRec struct {
	ID            string    `json:"id"`
	Region        string    `json:"region"`
	Account       string    `json:"account"`
	Revision      uint64    `json:"revision"`
	ClusterID     string    `json:"cluster_id"`
	State         string    `json:"state"`
	Created       time.Time `json:"created"`
	Deleted       time.Time `json:"deleted,omitzero"`
	Copied        time.Time `json:"copied,omitzero"`
	NeverExpires  bool      `json:"never_expires,omitempty"`
	HsmType       string    `json:"hsm_type"`
	Mode          string    `json:"mode"`
	SourceRegion  string    `json:"source_region,omitempty"`
	SourceBackup  string    `json:"source_backup,omitempty"`
	SourceCluster string    `json:"source_cluster,omitempty"`
	Tags          []Tag     `json:"tags,omitempty"`
	Policy        string    `json:"policy,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	DomainKeyID   string    `json:"domain_key_id"`
	StateIndex    uint64    `json:"state_index"`
	Size          int64     `json:"size"`
	// What a restore needs from the source cluster: its certificates (the restored
	// cluster is initialized with them) and its domain key lineage.
	ClusterCert string `json:"cluster_cert,omitempty"`
	TrustAnchor string `json:"trust_anchor,omitempty"`
	Lineage     string `json:"lineage,omitempty"`
	// ArchiveID is the backup id inside the archive's header: the id of the backup that
	// was written (a copy keeps its source's archive byte for byte).
	ArchiveID string `json:"archive_id,omitempty"`
	// Threshold and Total describe the custodian split (M of N); OfflineShare means the
	// single share was written to Config.ShareDir/<id>.share.
	Threshold    int  `json:"threshold,omitempty"`
	Total        int  `json:"total,omitempty"`
	OfflineShare bool `json:"offline_share,omitempty"`
}

func (b *backupRec) clone() *backupRec {
	n := *b
	n.Tags = slices.Clone(b.Tags)
	return &n
}

func (b *backupRec) arn() string {
	return fmt.Sprintf("arn:aws:cloudhsm:%s:%s:backup/%s", b.Region, b.Account, b.ID)
}

// persisted is the cloudhsm part's snapshot.
type persisted struct {
	Format   string                 `json:"format"`
	Version  int                    `json:"version"`
	Clusters map[string]*clusterRec `json:"clusters"` // cluster id
	Backups  map[string]*backupRec  `json:"backups"`  // backup id
	Members  map[string]*Member     `json:"members"`  // hsm id
}

const (
	snapshotFormat  = "coffer-cloudhsm-state"
	snapshotVersion = 1
)

// ---- wire shapes ----

// Certificates are a cluster's certificates.
type Certificates struct {
	ClusterCsr                      string `json:"ClusterCsr,omitempty"`
	HsmCertificate                  string `json:"HsmCertificate,omitempty"`
	AwsHardwareCertificate          string `json:"AwsHardwareCertificate,omitempty"`
	ManufacturerHardwareCertificate string `json:"ManufacturerHardwareCertificate,omitempty"`
	ClusterCertificate              string `json:"ClusterCertificate,omitempty"`
}

// Hsm is an HSM of a cluster.
type Hsm struct {
	AvailabilityZone string `json:"AvailabilityZone,omitempty"`
	ClusterId        string `json:"ClusterId,omitempty"`
	SubnetId         string `json:"SubnetId,omitempty"`
	EniId            string `json:"EniId,omitempty"`
	EniIp            string `json:"EniIp,omitempty"`
	EniIpV6          string `json:"EniIpV6,omitempty"`
	HsmId            string `json:"HsmId"`
	HsmType          string `json:"HsmType,omitempty"`
	State            string `json:"State,omitempty"`
	StateMessage     string `json:"StateMessage,omitempty"`
}

// Cluster is a cluster as DescribeClusters shows it.
type Cluster struct {
	BackupPolicy          string                 `json:"BackupPolicy,omitempty"`
	BackupRetentionPolicy *BackupRetentionPolicy `json:"BackupRetentionPolicy,omitempty"`
	ClusterId             string                 `json:"ClusterId"`
	CreateTimestamp       *Epoch                 `json:"CreateTimestamp,omitempty"`
	Hsms                  []Hsm                  `json:"Hsms"`
	HsmType               string                 `json:"HsmType,omitempty"`
	// HsmTypeRollbackExpiration is until when a cluster migrated from hsm1.medium can be
	// rolled back to it (ModifyCluster).
	HsmTypeRollbackExpiration *Epoch            `json:"HsmTypeRollbackExpiration,omitempty"`
	SecurityGroup             string            `json:"SecurityGroup,omitempty"`
	SourceBackupId            string            `json:"SourceBackupId,omitempty"`
	State                     string            `json:"State"`
	StateMessage              string            `json:"StateMessage,omitempty"`
	SubnetMapping             map[string]string `json:"SubnetMapping,omitempty"`
	VpcId                     string            `json:"VpcId,omitempty"`
	NetworkType               string            `json:"NetworkType,omitempty"`
	Certificates              *Certificates     `json:"Certificates,omitempty"`
	TagList                   []Tag             `json:"TagList,omitempty"`
	Mode                      string            `json:"Mode,omitempty"`
}

// Backup is a backup as DescribeBackups shows it.
type Backup struct {
	BackupId        string `json:"BackupId"`
	BackupArn       string `json:"BackupArn,omitempty"`
	BackupState     string `json:"BackupState,omitempty"`
	ClusterId       string `json:"ClusterId,omitempty"`
	CreateTimestamp *Epoch `json:"CreateTimestamp,omitempty"`
	CopyTimestamp   *Epoch `json:"CopyTimestamp,omitempty"`
	NeverExpires    bool   `json:"NeverExpires"`
	SourceRegion    string `json:"SourceRegion,omitempty"`
	SourceBackup    string `json:"SourceBackup,omitempty"`
	SourceCluster   string `json:"SourceCluster,omitempty"`
	DeleteTimestamp *Epoch `json:"DeleteTimestamp,omitempty"`
	TagList         []Tag  `json:"TagList,omitempty"`
	HsmType         string `json:"HsmType,omitempty"`
	Mode            string `json:"Mode,omitempty"`
}

// Epoch is a timestamp on the wire (seconds since the epoch as a number).
type Epoch = awsproto.Epoch

func epochPtr(t time.Time) *Epoch { return awsproto.EpochPtr(t) }
