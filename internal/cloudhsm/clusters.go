package cloudhsm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/cloudhsm/pki"
	"github.com/coffer-hsm/coffer/internal/hsm"
)

// ---- inputs and outputs ----

// CreateClusterInput is the CreateCluster request.
type CreateClusterInput struct {
	BackupRetentionPolicy *BackupRetentionPolicy `json:"BackupRetentionPolicy"`
	HsmType               string                 `json:"HsmType"`
	SourceBackupId        string                 `json:"SourceBackupId"`
	SubnetIds             []string               `json:"SubnetIds"`
	NetworkType           string                 `json:"NetworkType"`
	TagList               []Tag                  `json:"TagList"`
	Mode                  string                 `json:"Mode"`
}

// ClusterOutput is the response of CreateCluster, DeleteCluster and ModifyCluster.
type ClusterOutput struct {
	Cluster Cluster `json:"Cluster"`
}

// DescribeClustersInput is the DescribeClusters request.
type DescribeClustersInput struct {
	Filters    map[string][]string `json:"Filters"`
	NextToken  string              `json:"NextToken"`
	MaxResults *int                `json:"MaxResults"`
}

// DescribeClustersOutput is the DescribeClusters response.
type DescribeClustersOutput struct {
	Clusters  []Cluster `json:"Clusters"`
	NextToken string    `json:"NextToken,omitempty"`
}

// CreateHsmInput is the CreateHsm request.
type CreateHsmInput struct {
	ClusterId        string `json:"ClusterId"`
	AvailabilityZone string `json:"AvailabilityZone"`
	IpAddress        string `json:"IpAddress"`
}

// CreateHsmOutput is the CreateHsm response.
type CreateHsmOutput struct {
	Hsm Hsm `json:"Hsm"`
}

// DeleteHsmInput is the DeleteHsm request: the HSM by HsmId, EniId or EniIp.
type DeleteHsmInput struct {
	ClusterId string `json:"ClusterId"`
	HsmId     string `json:"HsmId"`
	EniId     string `json:"EniId"`
	EniIp     string `json:"EniIp"`
}

// DeleteHsmOutput is the DeleteHsm response.
type DeleteHsmOutput struct {
	HsmId string `json:"HsmId"`
}

// ClusterIDInput is a request naming a cluster (DeleteCluster).
type ClusterIDInput struct {
	ClusterId string `json:"ClusterId"`
}

// InitializeClusterInput is the InitializeCluster request.
type InitializeClusterInput struct {
	ClusterId   string `json:"ClusterId"`
	SignedCert  string `json:"SignedCert"`
	TrustAnchor string `json:"TrustAnchor"`
}

// InitializeClusterOutput is the InitializeCluster response.
type InitializeClusterOutput struct {
	State        string `json:"State"`
	StateMessage string `json:"StateMessage,omitempty"`
}

// ModifyClusterInput is the ModifyCluster request.
type ModifyClusterInput struct {
	ClusterId             string                 `json:"ClusterId"`
	HsmType               string                 `json:"HsmType"`
	BackupRetentionPolicy *BackupRetentionPolicy `json:"BackupRetentionPolicy"`
}

// ---- validation ----

func checkHsmType(t string) error {
	switch t {
	case HsmType1, HsmType2:
		return nil
	case "":
		return invalid("HsmType is required: %s or %s", HsmType1, HsmType2)
	}
	return invalid("HsmType %q is not supported: use %s or %s", clip(t), HsmType1, HsmType2)
}

// retentionDays validates a BackupRetentionPolicy; nil means the default.
func retentionDays(p *BackupRetentionPolicy) (int, error) {
	if p == nil {
		return DefaultRetentionDays, nil
	}
	if p.Type != "" && p.Type != "DAYS" {
		return 0, invalid("BackupRetentionPolicy.Type %q is not valid: the only type is DAYS", clip(p.Type))
	}
	if p.Value == "" {
		return DefaultRetentionDays, nil
	}
	n, err := strconv.Atoi(p.Value)
	if err != nil || len(p.Value) > 3 || strings.ContainsAny(p.Value, "+-") {
		return 0, invalid("BackupRetentionPolicy.Value %q is not a number of days from 7 to 379", clip(p.Value))
	}
	if n < 7 || n > 379 {
		return 0, invalid("BackupRetentionPolicy.Value %d is out of range: it must be 7 to 379 days", n)
	}
	return n, nil
}

// ---- operations ----

// CreateCluster records a new cluster in the caller's region. It answers CREATE_IN_PROGRESS;
// the cluster is UNINITIALIZED from the next read, Tick or CreateHsm on.
func (s *Service) CreateCluster(ctx context.Context, c Caller, in CreateClusterInput) (*ClusterOutput, error) {
	if err := checkHsmType(in.HsmType); err != nil {
		return nil, err
	}
	if len(in.SubnetIds) < 1 || len(in.SubnetIds) > 10 {
		return nil, invalid("SubnetIds must list 1 to 10 subnets, got %d", len(in.SubnetIds))
	}
	days, err := retentionDays(in.BackupRetentionPolicy)
	if err != nil {
		return nil, err
	}
	mode := in.Mode
	switch mode {
	case "":
		mode = ModeFIPS
	case ModeFIPS, ModeNonFIPS:
	default:
		return nil, invalid("Mode %q is not valid: FIPS or NON_FIPS", clip(mode))
	}
	var src *backupRec
	if in.SourceBackupId != "" {
		if src, err = s.sourceBackup(c, in.SourceBackupId); err != nil {
			return nil, err
		}
		// A backup of an hsm1.medium cluster restores into an hsm2m.medium cluster (the
		// migration path, hsm1.medium clusters being no longer created); otherwise the
		// restored cluster has the backup's type.
		if in.HsmType != src.HsmType && !(src.HsmType == HsmType1 && in.HsmType == HsmType2) {
			return nil, invalid("backup %s is of HSM type %s; a cluster restored from it has that type (HsmType %s)", src.ID, src.HsmType, src.HsmType)
		}
		if in.Mode != "" && in.Mode != src.Mode {
			return nil, invalid("backup %s is of a %s cluster; a cluster restored from it has that mode", src.ID, src.Mode)
		}
		mode = src.Mode
	}
	if in.HsmType == HsmType1 && mode == ModeNonFIPS {
		return nil, invalid("Mode %s needs HsmType %s: %s HSMs run in FIPS mode only", ModeNonFIPS, HsmType2, HsmType1)
	}
	if in.HsmType == HsmType1 {
		// hsm1.medium reached its end of support (December 2025): AWS creates no new
		// clusters of that type, from a backup or not.
		return nil, invalid("HsmType %s has reached end of support: new clusters cannot be created with this type; use %s", HsmType1, HsmType2)
	}
	nt := in.NetworkType
	switch nt {
	case "":
		nt = "IPV4"
	case "IPV4", "DUALSTACK":
	default:
		return nil, invalid("NetworkType %q is not valid: IPV4 or DUALSTACK", clip(nt))
	}
	if err := checkTagListGiven(in.TagList); err != nil {
		return nil, err
	}
	if err := checkTags(in.TagList, 0); err != nil {
		return nil, err
	}
	subnets := map[string]string{}
	for _, id := range in.SubnetIds {
		if !subnetIDRE.MatchString(id) {
			return nil, invalid("SubnetIds: %q is not a subnet id (subnet-[0-9a-f]{8,17})", clip(id))
		}
		az, ok := s.cfg.Subnets[id]
		if !ok {
			return nil, invalid("SubnetIds: subnet %s is not known to this Coffer node; declare it with `coffer server --subnet %s=<az>`", id, id)
		}
		if !zoneInRegion(az, c.Region) {
			// Subnets are regional: this one does not exist in the caller's region.
			return nil, invalid("SubnetIds: subnet %s is in %s, not in region %s; a cluster's subnets are in its own region", id, az, c.Region)
		}
		if prev, dup := subnets[az]; dup && prev != id {
			return nil, invalid("SubnetIds: subnets %s and %s are both in %s; give one subnet per availability zone", prev, id, az)
		}
		subnets[az] = id
	}
	if _, ok := subnets[s.cfg.Zone]; !ok {
		var mine []string
		for id, az := range s.cfg.Subnets {
			if az == s.cfg.Zone {
				mine = append(mine, id)
			}
		}
		sort.Strings(mine)
		return nil, invalid("SubnetIds: none of the subnets is in this node's availability zone %s, so no HSM could be created; add a subnet of %s (this node's: %s)", s.cfg.Zone, s.cfg.Zone, strings.Join(mine, ", "))
	}
	rec := &clusterRec{
		ID: newID("cluster-"), Region: c.Region, Account: c.Account, HsmType: in.HsmType, Mode: mode,
		State: ClusterCreateInProgress, Created: s.now(), RetentionDays: days, Subnets: subnets,
		NetworkType: nt, Tags: append([]Tag(nil), in.TagList...),
	}
	rec.Lineage = rec.ID
	if src != nil {
		rec.SourceBackupID = src.ID
		rec.Lineage = src.Lineage
		if rec.Lineage == "" {
			rec.Lineage = src.ClusterID
		}
		rec.StateMessage = "Cluster created from backup " + src.ID + ": add an HSM (CreateHsm), then restore the backup into it with its custodian shares"
	}
	if err := s.propose(ctx, cmdPutCluster, putClusterCmd{Cluster: rec}); err != nil {
		return nil, err
	}
	return &ClusterOutput{Cluster: s.view(rec)}, nil
}

// settle moves clusters that are CREATE_IN_PROGRESS to UNINITIALIZED.
func (s *Service) settle(ctx context.Context) error {
	s.mu.RLock()
	var ids []string
	for id, c := range s.clusters {
		if c.State == ClusterCreateInProgress {
			ids = append(ids, id)
		}
	}
	s.mu.RUnlock()
	var errs []error
	for _, id := range ids {
		_, err := s.updateCluster(ctx, "", id, func(c *clusterRec, _ *putClusterCmd) error {
			if c.State != ClusterCreateInProgress {
				return errNoChange
			}
			c.State = ClusterUninitialized
			return nil
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// view is the cluster as reported: states after initialization follow the HSM core.
func (s *Service) view(c *clusterRec) Cluster {
	out := Cluster{
		BackupPolicy:          "DEFAULT",
		BackupRetentionPolicy: &BackupRetentionPolicy{Type: "DAYS", Value: strconv.Itoa(c.RetentionDays)},
		ClusterId:             c.ID,
		CreateTimestamp:       epochPtr(c.Created),
		Hsms:                  []Hsm{},
		HsmType:               c.HsmType,
		SecurityGroup:         "sg-" + derivedHex(17, "sg", c.ID),
		SourceBackupId:        c.SourceBackupID,
		State:                 c.State,
		StateMessage:          c.StateMessage,
		SubnetMapping:         c.Subnets,
		VpcId:                 c.vpcID(),
		NetworkType:           c.NetworkType,
		TagList:               c.Tags,
		Mode:                  c.Mode,
	}
	if now := s.now(); now.Before(c.HsmTypeRollbackUntil) {
		out.HsmTypeRollbackExpiration = epochPtr(c.HsmTypeRollbackUntil)
	}
	if c.CSR != "" || c.ClusterCert != "" {
		out.Certificates = &Certificates{ClusterCsr: c.CSR, ClusterCertificate: c.ClusterCert}
	}
	hsmState, hsmMsg := HsmActive, ""
	if c.State == ClusterInitialized && s.cfg.HSM != nil {
		st := s.cfg.HSM.Status()
		switch {
		case st.State != hsm.StateUninitialized && c.DomainKeyID != "" && st.DomainKeyID != c.DomainKeyID:
			out.State = ClusterDegraded
			out.StateMessage = "the node's HSM holds another domain key than this cluster's (it was zeroized and initialized afresh): the cluster's keys are not there; restore a backup into a new cluster"
			hsmState, hsmMsg = ClusterDegraded, "another domain key"
		case st.State == hsm.StateActive:
			out.State = ClusterActive
			if !c.Dev {
				out.StateMessage = ""
			}
		case st.State == hsm.StateInitialized:
			out.State = ClusterInitialized
		default:
			out.State = ClusterDegraded
			if st.Zeroizations > 0 {
				out.StateMessage = "the cluster's HSM was zeroized: its domain key and key material are gone; restore a backup or create a new cluster"
			} else {
				out.StateMessage = "the cluster's HSM is not initialized on this node (zeroized or its state was lost); restore a backup or create a new cluster"
			}
			hsmState, hsmMsg = ClusterDegraded, "zeroized"
		}
	}
	for _, h := range c.Hsms {
		v := Hsm{AvailabilityZone: h.AZ, ClusterId: c.ID, SubnetId: h.SubnetID,
			EniId: h.EniID, EniIp: h.EniIP, HsmId: h.ID, HsmType: c.HsmType, State: hsmState, StateMessage: hsmMsg}
		if c.NetworkType == "DUALSTACK" {
			v.EniIpV6 = c.eniIPv6(h)
		}
		out.Hsms = append(out.Hsms, v)
	}
	return out
}

// DescribeClusters lists the clusters of the caller's region (oldest first), filtered by
// clusterIds, states (as reported) and vpcIds.
func (s *Service) DescribeClusters(ctx context.Context, c Caller, in DescribeClustersInput) (*DescribeClustersOutput, error) {
	max, err := pageSize(in.MaxResults, 25, "MaxResults")
	if err != nil {
		return nil, err
	}
	for k := range in.Filters {
		switch k {
		case "clusterIds", "states", "vpcIds":
		default:
			return nil, invalid("Filters: unknown filter %q; DescribeClusters filters by clusterIds, states and vpcIds", clip(k))
		}
	}
	if err := s.settle(ctx); err != nil {
		s.cfg.Logger.Warn("cloudhsm: settling new clusters", "err", err)
	}
	s.mu.RLock()
	var recs []*clusterRec
	for _, r := range s.clusters {
		if r.Region == c.Region {
			recs = append(recs, r.clone())
		}
	}
	s.mu.RUnlock()
	sort.Slice(recs, func(i, j int) bool {
		if !recs[i].Created.Equal(recs[j].Created) {
			return recs[i].Created.Before(recs[j].Created)
		}
		return recs[i].ID < recs[j].ID
	})
	var all []Cluster
	for _, r := range recs {
		v := s.view(r)
		if match(in.Filters, "clusterIds", v.ClusterId) && match(in.Filters, "states", v.State) && match(in.Filters, "vpcIds", v.VpcId) {
			all = append(all, v)
		}
	}
	page, next, err := paginate(all, in.NextToken, max)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []Cluster{}
	}
	return &DescribeClustersOutput{Clusters: page, NextToken: next}, nil
}

// match reports whether v passes the filter key (absent filter: yes).
func match(f map[string][]string, key, v string) bool {
	vals, ok := f[key]
	if !ok {
		return true
	}
	for _, x := range vals {
		if x == v {
			return true
		}
	}
	return false
}

// CreateHsm binds this node to the cluster as a new HSM in AvailabilityZone, which must be
// the node's zone. The first HSM of an UNINITIALIZED cluster makes the cluster CSR. A
// backup is taken after the HSM is added (failures are logged).
func (s *Service) CreateHsm(ctx context.Context, c Caller, in CreateHsmInput) (*CreateHsmOutput, error) {
	if !azRE.MatchString(in.AvailabilityZone) {
		return nil, invalid("AvailabilityZone %q is not a valid availability zone", clip(in.AvailabilityZone))
	}
	if in.IpAddress != "" && !validIPv4(in.IpAddress) {
		return nil, invalid("IpAddress %q is not an IPv4 address", clip(in.IpAddress))
	}
	cur, err := s.getCluster(c.Region, in.ClusterId)
	if err != nil {
		return nil, err
	}
	if _, ok := cur.Subnets[in.AvailabilityZone]; !ok {
		return nil, invalid("AvailabilityZone %s has no subnet of cluster %s (zones: %s)", in.AvailabilityZone, cur.ID, zones(cur))
	}
	if in.AvailabilityZone != s.cfg.Zone {
		return nil, invalid("AvailabilityZone %s: in a single process CreateHsm binds the local node, which is in %s; HSMs in other zones need Coffer nodes there", in.AvailabilityZone, s.cfg.Zone)
	}
	var csr string
	// A cluster created from a backup is initialized by RestoreCluster with the source
	// cluster's certificates: it makes no CSR.
	if cur.CSR == "" && cur.SourceBackupID == "" && (cur.State == ClusterUninitialized || cur.State == ClusterCreateInProgress) {
		// The private key is not kept: see the package documentation.
		var key []byte
		csr, key, err = pki.NewClusterCSR(nil, cur.ID)
		clear(key)
		if err != nil {
			return nil, err
		}
	}
	h := hsmRec{ID: newID("hsm-"), AZ: in.AvailabilityZone, SubnetID: cur.Subnets[in.AvailabilityZone], NodeID: s.cfg.NodeID, Created: s.now()}
	h.EniID = "eni-" + derivedHex(17, "eni", h.ID)
	h.EniIP = in.IpAddress
	if h.EniIP == "" {
		x := derivedHex(4, "ip", h.ID)
		a, _ := strconv.ParseUint(x[:2], 16, 8)
		b, _ := strconv.ParseUint(x[2:], 16, 8)
		h.EniIP = fmt.Sprintf("10.0.%d.%d", a, max(b, 4)%255)
	}
	rec, err := s.updateCluster(ctx, c.Region, in.ClusterId, func(cl *clusterRec, cmd *putClusterCmd) error {
		switch cl.State {
		case ClusterCreateInProgress:
			cl.State = ClusterUninitialized
		case ClusterUninitialized, ClusterInitialized:
		default:
			return invalid("cluster %s is %s; HSMs can be added to UNINITIALIZED, INITIALIZED or ACTIVE clusters", cl.ID, cl.State)
		}
		for _, o := range cl.Hsms {
			if o.NodeID == s.cfg.NodeID {
				return limit("this node already provides HSM %s of cluster %s: a Coffer node provides one HSM; more HSMs need more nodes", o.ID, cl.ID)
			}
			if in.IpAddress != "" && o.EniIP == in.IpAddress {
				return invalid("IpAddress %s is used by HSM %s", in.IpAddress, o.ID)
			}
		}
		if cl.CSR == "" && cl.State == ClusterUninitialized && cl.SourceBackupID == "" {
			if csr == "" {
				return errConflict // state moved under us; cannot happen in practice
			}
			cl.CSR = csr
		}
		cl.Hsms = append(cl.Hsms, h)
		cmd.Bind = &Member{HsmID: h.ID, ClusterID: cl.ID, NodeID: s.cfg.NodeID, AZ: h.AZ}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rec.State == ClusterInitialized && s.cfg.Store != nil {
		if _, err := s.CreateBackup(ctx, rec.ID, "new HSM "+h.ID); err != nil {
			s.cfg.Logger.Warn("cloudhsm: backup after CreateHsm failed", "cluster", rec.ID, "hsm", h.ID, "err", err)
		}
	}
	v := s.view(rec)
	for _, x := range v.Hsms {
		if x.HsmId == h.ID {
			return &CreateHsmOutput{Hsm: x}, nil
		}
	}
	return nil, chErr(CodeInternal, "HSM %s missing after creation", h.ID)
}

// zoneInRegion reports whether the availability zone az (us-east-1a) is in region
// (us-east-1).
func zoneInRegion(az, region string) bool {
	rest, ok := strings.CutPrefix(az, region)
	return ok && len(rest) == 1 && rest[0] >= 'a' && rest[0] <= 'z'
}

func zones(c *clusterRec) string {
	var z []string
	for az := range c.Subnets {
		z = append(z, az)
	}
	sort.Strings(z)
	return strings.Join(z, ", ")
}

// DeleteHsm removes an HSM (by HsmId, EniId or EniIp) from the cluster and unbinds its
// node, after a backup of an initialized cluster (backupBeforeRemoval), as AWS takes one
// when an HSM is removed from an active cluster. Deleted HSMs are no longer listed.
func (s *Service) DeleteHsm(ctx context.Context, c Caller, in DeleteHsmInput) (*DeleteHsmOutput, error) {
	switch {
	case in.HsmId != "" && !hsmIDRE.MatchString(in.HsmId):
		return nil, invalid("HsmId %q is not a valid HSM id (hsm-[2-7a-zA-Z]{11,16})", clip(in.HsmId))
	case in.EniId != "" && !eniIDRE.MatchString(in.EniId):
		return nil, invalid("EniId %q is not a valid ENI id", clip(in.EniId))
	case in.EniIp != "" && !validIPv4(in.EniIp):
		return nil, invalid("EniIp %q is not an IPv4 address", clip(in.EniIp))
	case in.HsmId == "" && in.EniId == "" && in.EniIp == "":
		return nil, invalid("name the HSM to delete with HsmId, EniId or EniIp")
	}
	s.backupBeforeRemoval(ctx, c.Region, in)
	var deleted string
	_, err := s.updateCluster(ctx, c.Region, in.ClusterId, func(cl *clusterRec, cmd *putClusterCmd) error {
		for i, h := range cl.Hsms {
			if (in.HsmId == "" || h.ID == in.HsmId) && (in.EniId == "" || h.EniID == in.EniId) && (in.EniIp == "" || h.EniIP == in.EniIp) {
				deleted = h.ID
				cl.Hsms = append(cl.Hsms[:i], cl.Hsms[i+1:]...)
				cmd.Unbind = h.ID
				return nil
			}
		}
		return notFound("HSM not found in cluster %s", cl.ID)
	})
	if err != nil {
		return nil, err
	}
	return &DeleteHsmOutput{HsmId: deleted}, nil
}

// backupBeforeRemoval takes the backup AWS takes when an HSM is removed from an active
// cluster: when the HSM DeleteHsm names is in an initialized cluster that this node
// provides an HSM of, and backups are configured. It runs before the removal, while the
// node still provides an HSM of the cluster (the last HSM's node could not back it up
// afterwards). Failures are logged; they do not stop the removal.
func (s *Service) backupBeforeRemoval(ctx context.Context, region string, in DeleteHsmInput) {
	if s.cfg.Store == nil {
		return
	}
	cl, err := s.getCluster(region, in.ClusterId)
	if err != nil || cl.State != ClusterInitialized || !s.hasLocalHsm(cl) || s.view(cl).State == ClusterDegraded {
		return
	}
	for _, h := range cl.Hsms {
		if (in.HsmId == "" || h.ID == in.HsmId) && (in.EniId == "" || h.EniID == in.EniId) && (in.EniIp == "" || h.EniIP == in.EniIp) {
			if _, err := s.CreateBackup(ctx, cl.ID, "removing HSM "+h.ID); err != nil {
				s.cfg.Logger.Warn("cloudhsm: backup before DeleteHsm failed", "cluster", cl.ID, "hsm", h.ID, "err", err)
			}
			return
		}
	}
}

// DeleteCluster deletes a cluster that has no HSMs. Its backups stay.
func (s *Service) DeleteCluster(ctx context.Context, c Caller, in ClusterIDInput) (*ClusterOutput, error) {
	rec, err := s.updateCluster(ctx, c.Region, in.ClusterId, func(cl *clusterRec, _ *putClusterCmd) error {
		if cl.State == ClusterDeleted {
			return invalid("cluster %s is already deleted", cl.ID)
		}
		if len(cl.Hsms) > 0 {
			return invalid("cluster %s still has %d HSM(s); delete them first (DeleteHsm)", cl.ID, len(cl.Hsms))
		}
		cl.State = ClusterDeleted
		cl.StateMessage = ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ClusterOutput{Cluster: s.view(rec)}, nil
}

// InitializeCluster accepts the cluster certificate signed by the operator's CA and
// initializes the node's HSM core with Config.InitialPolicy. The cluster is then INITIALIZED, and ACTIVE once the
// operator runs `coffer hsm cluster activate`.
func (s *Service) InitializeCluster(ctx context.Context, c Caller, in InitializeClusterInput) (*InitializeClusterOutput, error) {
	if in.SignedCert == "" || in.TrustAnchor == "" {
		return nil, invalid("SignedCert and TrustAnchor are required (PEM certificates)")
	}
	if len(in.SignedCert) > 20000 || len(in.TrustAnchor) > 20000 {
		return nil, invalid("SignedCert and TrustAnchor are at most 20000 characters")
	}
	cur, err := s.getCluster(c.Region, in.ClusterId)
	if err != nil {
		return nil, err
	}
	if cur.SourceBackupID != "" {
		return nil, invalid("cluster %s was created from backup %s: restore the backup into it (its custodian shares) instead of initializing it", cur.ID, cur.SourceBackupID)
	}
	if cur.State != ClusterUninitialized {
		return nil, invalid("cluster %s is %s; only an UNINITIALIZED cluster can be initialized", cur.ID, s.view(cur).State)
	}
	if len(cur.Hsms) == 0 || cur.CSR == "" {
		return nil, invalid("cluster %s has no HSM yet; create one (CreateHsm), then sign its ClusterCsr", cur.ID)
	}
	if err := pki.VerifyInitialization(cur.CSR, in.SignedCert, in.TrustAnchor, s.now()); err != nil {
		var pe *pki.Error
		if errors.As(err, &pe) {
			return nil, invalid("%s", pe.Reason)
		}
		return nil, invalid("%v", err)
	}
	if s.cfg.HSM == nil {
		return nil, chErr(CodeInternal, "no HSM core is attached to this node")
	}
	if st := s.cfg.HSM.Status(); st.State != hsm.StateUninitialized {
		return nil, invalid("the node's HSM is already initialized (state %s); zeroize it or use another node", st.State)
	}
	// INITIALIZE_IN_PROGRESS claims the cluster so that concurrent calls do not both
	// initialize the HSM core.
	if _, err := s.updateCluster(ctx, c.Region, cur.ID, func(cl *clusterRec, _ *putClusterCmd) error {
		if cl.State != ClusterUninitialized || cl.CSR != cur.CSR {
			return invalid("cluster %s changed meanwhile (state %s); retry", cl.ID, cl.State)
		}
		cl.State = ClusterInitializeInProgress
		return nil
	}); err != nil {
		return nil, err
	}
	setState := func(state, msg string) (*clusterRec, error) {
		return s.updateCluster(context.WithoutCancel(ctx), c.Region, cur.ID, func(cl *clusterRec, _ *putClusterCmd) error {
			cl.State, cl.StateMessage = state, msg
			if state == ClusterInitialized {
				cl.ClusterCert, cl.TrustAnchor = in.SignedCert, in.TrustAnchor
				cl.DomainKeyID = s.cfg.HSM.Status().DomainKeyID
			}
			return nil
		})
	}
	if err := s.cfg.HSM.Initialize(ctx, s.cfg.InitialPolicy); err != nil {
		if _, rerr := setState(ClusterUninitialized, ""); rerr != nil {
			s.cfg.Logger.Error("cloudhsm: reverting a failed initialization", "cluster", cur.ID, "err", rerr)
		}
		var ce *hsm.ConflictError
		if errors.As(err, &ce) {
			return nil, invalid("the node's HSM is already initialized")
		}
		return nil, err
	}
	rec, err := setState(ClusterInitialized, "Cluster is initialized; activate it with `coffer hsm cluster activate`")
	if err != nil {
		return nil, err
	}
	return &InitializeClusterOutput{State: rec.State, StateMessage: rec.StateMessage}, nil
}

// ModifyCluster changes a cluster's backup retention policy and HSM type.
func (s *Service) ModifyCluster(ctx context.Context, c Caller, in ModifyClusterInput) (*ClusterOutput, error) {
	if in.HsmType == "" && in.BackupRetentionPolicy == nil {
		return nil, invalid("ModifyCluster needs BackupRetentionPolicy or HsmType")
	}
	if in.HsmType != "" {
		if err := checkHsmType(in.HsmType); err != nil {
			return nil, err
		}
	}
	days := 0
	if in.BackupRetentionPolicy != nil {
		if in.BackupRetentionPolicy.Value == "" {
			return nil, invalid("BackupRetentionPolicy.Value is required: 7 to 379 days")
		}
		d, err := retentionDays(in.BackupRetentionPolicy)
		if err != nil {
			return nil, err
		}
		days = d
	}
	rec, err := s.updateCluster(ctx, c.Region, in.ClusterId, func(cl *clusterRec, _ *putClusterCmd) error {
		if cl.State == ClusterDeleted {
			return invalid("cluster %s is deleted", cl.ID)
		}
		if days != 0 {
			cl.RetentionDays = days
		}
		if in.HsmType != "" && in.HsmType != cl.HsmType {
			now := s.now()
			switch {
			case in.HsmType == HsmType1 && cl.Mode == ModeNonFIPS:
				return invalid("cluster %s is %s; %s HSMs run in FIPS mode only", cl.ID, ModeNonFIPS, HsmType1)
			case cl.HsmType == HsmType1 && in.HsmType == HsmType2:
				// The migration AWS offers: hsm1.medium to hsm2m.medium, which can be
				// rolled back for 24 hours.
				cl.HsmTypeRollbackUntil = now.Add(HsmTypeRollbackWindow)
			case in.HsmType == HsmType1 && now.Before(cl.HsmTypeRollbackUntil):
				// Rolling a migration back.
				cl.HsmTypeRollbackUntil = time.Time{}
			case in.HsmType == HsmType1 && !cl.HsmTypeRollbackUntil.IsZero():
				return invalid("cluster %s can no longer be rolled back to %s: the rollback period ended at %s", cl.ID, HsmType1, cl.HsmTypeRollbackUntil.Format(time.RFC3339))
			default:
				return invalid("cluster %s is %s and cannot be modified to %s: clusters migrate from %s to %s only", cl.ID, cl.HsmType, in.HsmType, HsmType1, HsmType2)
			}
			cl.HsmType = in.HsmType
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ClusterOutput{Cluster: s.view(rec)}, nil
}

// EnsureDevCluster makes a --dev node look like a ready cluster: when the HSM core is
// ACTIVE and the node holds no live cluster, it records an initialized cluster (reported
// ACTIVE) in Config.Region with one HSM bound to this node, in the node's zone and subnet
// (a subnet id derived from the zone when none is configured). It returns the live
// cluster's id; calling it again changes nothing.
func (s *Service) EnsureDevCluster(ctx context.Context) (string, error) {
	if err := s.retireStaleDevCluster(ctx); err != nil {
		return "", err
	}
	s.mu.RLock()
	for _, c := range s.clusters {
		if c.State != ClusterDeleted {
			id, backfill := c.ID, c.Dev && c.State == ClusterInitialized && c.TrustAnchor == ""
			s.mu.RUnlock()
			if backfill {
				// A dev cluster recorded before dev clusters had certificates.
				cert, anchor, err := devCertificates(id, s.now())
				if err != nil {
					return "", err
				}
				if _, err := s.updateCluster(ctx, "", id, func(cl *clusterRec, _ *putClusterCmd) error {
					if cl.TrustAnchor != "" {
						return errNoChange
					}
					cl.ClusterCert, cl.TrustAnchor = cert, anchor
					return nil
				}); err != nil {
					return "", err
				}
			}
			return id, nil
		}
	}
	s.mu.RUnlock()
	if st := s.coreState(); st != hsm.StateActive {
		return "", invalid("the node's HSM is %s, not ACTIVE; a dev cluster needs an active HSM", st)
	}
	zone := s.cfg.Zone
	var known []string
	for id, az := range s.cfg.Subnets {
		if az == zone {
			known = append(known, id)
		}
	}
	sort.Strings(known)
	subnet := known[0] // New gives the node's zone a default subnet

	rec := &clusterRec{
		ID: newID("cluster-"), Region: s.cfg.Region, Account: s.cfg.Account, HsmType: HsmType2, Mode: ModeFIPS,
		State: ClusterInitialized, Created: s.now(), RetentionDays: DefaultRetentionDays,
		Subnets: map[string]string{zone: subnet}, NetworkType: "IPV4", Dev: true,
		StateMessage: "development cluster",
	}
	rec.Lineage = rec.ID
	rec.DomainKeyID = s.cfg.HSM.Status().DomainKeyID
	var err error
	if rec.ClusterCert, rec.TrustAnchor, err = devCertificates(rec.ID, rec.Created); err != nil {
		return "", err
	}
	h := hsmRec{ID: newID("hsm-"), AZ: zone, SubnetID: subnet, NodeID: s.cfg.NodeID, Created: rec.Created, EniIP: "10.0.0.4"}
	h.EniID = "eni-" + derivedHex(17, "eni", h.ID)
	rec.Hsms = []hsmRec{h}
	err = s.propose(ctx, cmdPutCluster, putClusterCmd{Cluster: rec,
		Bind: &Member{HsmID: h.ID, ClusterID: rec.ID, NodeID: s.cfg.NodeID, AZ: zone}})
	var e *Error
	if errors.As(err, &e) && e.Code == CodeLimitExceeded {
		// Another caller created it meanwhile.
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, c := range s.clusters {
			if c.State != ClusterDeleted {
				return c.ID, nil
			}
		}
	}
	if err != nil {
		return "", err
	}
	return rec.ID, nil
}

// retireStaleDevCluster deletes the live --dev cluster when the node's HSM now holds
// another domain key (zeroized, then initialized afresh at restart): that cluster's keys
// are gone, and a new dev cluster, of a new lineage, takes its place. Its backups stay.
func (s *Service) retireStaleDevCluster(ctx context.Context) error {
	st := s.cfg.HSM.Status()
	if st.State != hsm.StateActive {
		return nil
	}
	s.mu.RLock()
	var stale *clusterRec
	for _, c := range s.clusters {
		if c.State != ClusterDeleted && c.Dev && c.DomainKeyID != "" && c.DomainKeyID != st.DomainKeyID {
			stale = c.clone()
		}
	}
	s.mu.RUnlock()
	if stale == nil {
		return nil
	}
	for _, h := range stale.Hsms {
		if _, err := s.updateCluster(ctx, "", stale.ID, func(cl *clusterRec, cmd *putClusterCmd) error {
			for i, x := range cl.Hsms {
				if x.ID == h.ID {
					cl.Hsms = append(cl.Hsms[:i], cl.Hsms[i+1:]...)
					cmd.Unbind = h.ID
					return nil
				}
			}
			return errNoChange
		}); err != nil {
			return err
		}
	}
	_, err := s.updateCluster(ctx, "", stale.ID, func(cl *clusterRec, _ *putClusterCmd) error {
		cl.State = ClusterDeleted
		cl.StateMessage = "retired: the node's HSM was zeroized and initialized afresh with another domain key"
		return nil
	})
	if err == nil {
		s.cfg.Logger.Warn("cloudhsm: dev cluster retired: the HSM holds another domain key now", "cluster", stale.ID)
	}
	return err
}

// Members returns the node memberships (HSM bindings), by HSM id.
func (s *Service) Members() []Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HsmID < out[j].HsmID })
	return out
}
