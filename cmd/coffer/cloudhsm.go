package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/backup"
	"github.com/coffer-hsm/coffer/internal/cloudhsm"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/hsmapi"
	"github.com/coffer-hsm/coffer/internal/kms"
)

// cloudhsmJSONService exposes the CloudHSMv2 operation table as the BaldrApiService JSON 1.1
// protocol (SigV4 service name "cloudhsm").
// Every operation is authorized with the caller's identity policies (cloudhsm:<Op>) on the
// cluster or backup ARN it acts on ("*" for the operations that name none).
func cloudhsmJSONService(svc *cloudhsm.Service, a *identityAuthorizer) *awsproto.JSONService {
	ops := handlers(svc, cloudhsm.Operations(), func(c *awsproto.Call) cloudhsm.Caller {
		return cloudhsm.Caller{Region: c.Region, Account: c.Principal.Account, Principal: c.Principal.ARN}
	}, a.guardAllOn("cloudhsm", cloudhsm.CodeAccessDenied, http.StatusBadRequest, func(op string, c *awsproto.Call) string {
		return cloudhsm.RequestResource(op, c.Region, c.Principal.Account, c.Body)
	}))
	return &awsproto.JSONService{
		TargetPrefix: "BaldrApiService",
		SigningName:  "cloudhsm",
		JSONVersion:  "1.1",
		Operations:   ops,
		MapError: func(err error) *awsproto.Error {
			e := cloudhsm.AsError(err)
			return &awsproto.Error{Status: e.Status, Code: e.Code, Message: e.Message}
		},
	}
}

// clusterDirectory lets KMS custom key stores see CloudHSM clusters.
type clusterDirectory struct {
	svc *cloudhsm.Service
	dev bool
}

func (d clusterDirectory) LookupCluster(ctx context.Context, region, id string) (kms.CloudHsmCluster, bool, error) {
	ci, err := d.svc.ClusterInfo(region, id)
	if err != nil {
		if e := cloudhsm.AsError(err); e.Code == cloudhsm.CodeNotFound || e.Code == cloudhsm.CodeInvalidRequest {
			return kms.CloudHsmCluster{}, false, nil
		}
		return kms.CloudHsmCluster{}, false, err
	}
	return kms.CloudHsmCluster{ID: ci.ID, State: ci.State, TrustAnchor: ci.TrustAnchor, Lineage: ci.Lineage,
		HsmZones: ci.HsmZones, Dev: ci.Dev || d.dev}, true, nil
}

// nativeError gives control-plane errors a status on the native API.
type nativeError struct{ e *cloudhsm.Error }

func (n nativeError) Error() string { return n.e.Message }
func (n nativeError) NativeStatus() (int, string) {
	return n.e.Status, strings.TrimPrefix(strings.TrimSuffix(n.e.Code, "Exception"), "CloudHsm")
}

// asNative maps a control-plane error for the native API; HSM errors keep their mapping.
func asNative(err error) error {
	var ce *cloudhsm.Error
	if errors.As(err, &ce) {
		return nativeError{ce}
	}
	return err
}

// Native API requests and answers of the backup commands (`coffer hsm backup ...`).
type (
	backupCreateRequest struct {
		ClusterID string `json:"cluster_id,omitempty"`
	}
	custodianEntry struct {
		Name         string `json:"name"`
		PublicKeyPEM string `json:"public_key_pem,omitempty"`
		Fingerprint  string `json:"fingerprint,omitempty"`
	}
	custodiansRequest struct {
		ClusterID  string           `json:"cluster_id,omitempty"`
		Threshold  int              `json:"threshold"`
		Custodians []custodianEntry `json:"custodians"`
	}
	custodiansAnswer struct {
		ClusterID  string           `json:"cluster_id"`
		Threshold  int              `json:"threshold"`
		Custodians []custodianEntry `json:"custodians"`
	}
	custodianShareRequest struct {
		BackupID    string `json:"backup_id"`
		Fingerprint string `json:"fingerprint"`
	}
	custodianShareAnswer struct {
		WrappedShare backup.WrappedShare `json:"wrapped_share"`
		DomainKeyID  string              `json:"domain_key_id"`
	}
	restoreRequest struct {
		ClusterID string   `json:"cluster_id"`
		Shares    []string `json:"shares"` // encoded shares (backup.ParseShare's format), or base64 raw shares
	}
	progressEvent struct {
		Phase string `json:"phase"`
		Done  int64  `json:"done"`
		Total int64  `json:"total"`
	}
)

// localCluster is the live cluster this node provides an HSM for, or the id given.
func (n *node) localCluster(id string) (string, error) {
	if id != "" {
		return id, nil
	}
	for _, m := range n.cloudhsm.Members() {
		if m.NodeID == n.nodeID {
			return m.ClusterID, nil
		}
	}
	return "", nativeError{&cloudhsm.Error{Code: cloudhsm.CodeNotFound, Status: http.StatusNotFound,
		Message: "this node provides no HSM of any cluster; create one (aws cloudhsmv2 create-hsm) or pass --cluster-id"}}
}

// progressFunc adapts native API progress to backup.Progress, at most every 100 ms.
func progressFunc(phase string, send func(any)) backup.Progress {
	var last time.Time
	return func(done, total int64) {
		if done < total && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		send(progressEvent{Phase: phase, Done: done, Total: total})
	}
}

// clusterRequest is a request naming a cluster (empty: the cluster of this node).
type clusterRequest interface{ cluster() string }

func (r backupCreateRequest) cluster() string { return r.ClusterID }
func (r custodiansRequest) cluster() string   { return r.ClusterID }
func (r restoreRequest) cluster() string      { return r.ClusterID }

// clusterCommand builds a native API extension whose request names a cluster: fn gets the
// decoded request and the resolved cluster id; control-plane errors get their status.
func clusterCommand[T clusterRequest](n *node, auth bool, fn func(ctx context.Context, sess *hsm.Session, req T, clusterID string, progress func(any)) (any, error)) hsmapi.Extension {
	ext := hsmapi.Extension{Auth: auth, Fn: func(ctx context.Context, sess *hsm.Session, body []byte, progress func(any)) (any, error) {
		req, err := hsmapi.DecodeRequest[T](body)
		if err != nil {
			return nil, err
		}
		id, err := n.localCluster(req.cluster())
		if err != nil {
			return nil, err
		}
		out, err := fn(ctx, sess, req, id, progress)
		if err != nil {
			return nil, asNative(err)
		}
		return out, nil
	}}
	if auth {
		ext.Roles = []string{hsm.RoleAdmin}
	}
	return ext
}

// backupExtensions are the native API commands of the backup service. Taking backups and
// naming custodians need an admin session; reading custodians, fetching a custodian's
// (encrypted) share and restoring do not: a zeroized cluster has no sessions, and for a
// restore the custodians' shares are the authority.
func (n *node) backupExtensions() map[string]hsmapi.Extension {
	return map[string]hsmapi.Extension{
		"backup/create": clusterCommand(n, true, func(ctx context.Context, sess *hsm.Session, _ backupCreateRequest, id string, progress func(any)) (any, error) {
			return n.cloudhsm.CreateBackupWithProgress(ctx, id, "on demand by "+sess.User, progressFunc("backup", progress))
		}),
		"backup/custodians/set": clusterCommand(n, true, func(ctx context.Context, _ *hsm.Session, req custodiansRequest, id string, _ func(any)) (any, error) {
			keys := make([]backup.CustodianKey, len(req.Custodians))
			for i, c := range req.Custodians {
				keys[i] = backup.CustodianKey{Name: c.Name, PublicKeyPEM: c.PublicKeyPEM}
			}
			if err := n.cloudhsm.SetCustodians(ctx, id, req.Threshold, keys); err != nil {
				return nil, err
			}
			return n.custodians(id)
		}),
		"backup/custodians/list": clusterCommand(n, false, func(_ context.Context, _ *hsm.Session, _ backupCreateRequest, id string, _ func(any)) (any, error) {
			return n.custodians(id)
		}),
		"backup/source": clusterCommand(n, false, func(_ context.Context, _ *hsm.Session, _ backupCreateRequest, id string, _ func(any)) (any, error) {
			src, err := n.cloudhsm.SourceBackupID(id)
			if err != nil {
				return nil, err
			}
			return map[string]string{"ClusterId": id, "SourceBackupId": src}, nil
		}),
		"backup/restore": clusterCommand(n, false, func(ctx context.Context, _ *hsm.Session, req restoreRequest, id string, progress func(any)) (any, error) {
			shares := make([][]byte, 0, len(req.Shares))
			defer func() {
				for _, s := range shares {
					clear(s)
				}
			}()
			for i, s := range req.Shares {
				sh, err := decodeShare(s)
				if err != nil {
					return nil, &hsm.ValidationError{Field: fmt.Sprintf("shares[%d]", i), Reason: err.Error()}
				}
				shares = append(shares, sh)
			}
			return n.cloudhsm.RestoreCluster(ctx, cloudhsm.Caller{}, id, shares, progressFunc("restore", progress))
		}),
		// The wrapped share is encrypted to the custodian's public key: not a secret.
		"backup/custodian-share": {Fn: func(ctx context.Context, _ *hsm.Session, body []byte, _ func(any)) (any, error) {
			req, err := hsmapi.DecodeRequest[custodianShareRequest](body)
			if err != nil {
				return nil, err
			}
			ws, err := n.cloudhsm.CustodianShare(ctx, req.BackupID, req.Fingerprint)
			if err != nil {
				return nil, asNative(err)
			}
			dkID, err := n.cloudhsm.BackupDomainKeyID(req.BackupID)
			if err != nil {
				return nil, asNative(err)
			}
			return custodianShareAnswer{WrappedShare: ws, DomainKeyID: dkID}, nil
		}},
	}
}

var base64RE = regexp.MustCompile(`^[A-Za-z0-9+/]+={0,2}$`)

// decodeShare accepts a share in the backup package's encoding, or raw base64.
func decodeShare(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if sh, _, err := backup.ParseShare(s); err == nil {
		return sh, nil
	}
	if base64RE.MatchString(s) {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) > 1 {
			return b, nil
		}
	}
	return nil, errors.New("not a backup share (the text written by 'coffer hsm backup share' or the --dev share file)")
}

func (n *node) custodians(clusterID string) (*custodiansAnswer, error) {
	m, keys, err := n.cloudhsm.Custodians(clusterID)
	if err != nil {
		return nil, err
	}
	out := &custodiansAnswer{ClusterID: clusterID, Threshold: m, Custodians: []custodianEntry{}}
	for _, k := range keys {
		e := custodianEntry{Name: k.Name}
		if pub, err := backup.ParseCustodianKey(k.PublicKeyPEM); err == nil {
			e.Fingerprint = backup.Fingerprint(pub)
		}
		out.Custodians = append(out.Custodians, e)
	}
	return out, nil
}
