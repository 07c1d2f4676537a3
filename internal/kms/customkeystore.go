package kms

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/state"
)

// AWS CloudHSM key stores (custom key stores of type AWS_CLOUDHSM).
//
// A store names a CloudHSM cluster (internal/cloudhsm, seen through Config.Clusters) and
// the password of the cluster's "kmsuser" crypto user. Connecting a store logs in to the
// cluster's HSM as kmsuser and rotates kmsuser's password to a random one that only KMS
// knows, as AWS KMS does. The KMS keys of a store are AES-256 keys generated inside the HSM
// in kmsuser's session (owned by kmsuser, labeled with the KMS key id), and every
// cryptographic operation with them runs in kmsuser's session.
//
// The password is kept sealed: an AES-GCM ciphertext made inside the HSM with an AES key
// owned by the svc-kms service user (one per store, created with the store), the store id
// in the additional data. A restarted node logs in again with it; so does a node whose
// kmsuser session expired.
//
// The connection state is replicated; kmsuser's sessions are node-local.

// ClusterDirectory answers questions about CloudHSM clusters (internal/cloudhsm, adapted by
// cmd/coffer).
type ClusterDirectory interface {
	// LookupCluster returns the cluster id in region; ok=false when it does not exist.
	LookupCluster(ctx context.Context, region, id string) (c CloudHsmCluster, ok bool, err error)
}

// CloudHsmCluster is what KMS needs to know about a CloudHSM cluster.
type CloudHsmCluster struct {
	ID, State   string   // State as CloudHSM reports it: ACTIVE, INITIALIZED, UNINITIALIZED, DEGRADED, DELETED...
	TrustAnchor string   // PEM of the cluster's trust anchor certificate ("" before InitializeCluster)
	Lineage     string   // clusters that share backup history have the same lineage (AWS: "related clusters")
	HsmZones    []string // availability zones of the cluster's active HSMs (one entry per HSM)
	Dev         bool     // the node runs with --dev: the two-HSMs-in-two-zones rule is relaxed
}

// KMSUser is the crypto user KMS logs in as in the cluster of an AWS CloudHSM key store.
const KMSUser = "kmsuser"

const (
	// maxCustomKeyStores is AWS KMS's quota of custom key stores per account and Region.
	maxCustomKeyStores = 10
	// connectTimeout bounds one connection attempt.
	connectTimeout = 2 * time.Minute
	// staleAttempt: a CONNECTING store whose attempt began longer ago than this and runs
	// nowhere on this node (the node restarted meanwhile) is taken over by the scheduler or
	// a new ConnectCustomKeyStore.
	staleAttempt  = 2 * time.Minute
	clusterActive = "ACTIVE"
	passwordAAD   = "coffer/kms/custom-key-store/kmsuser-password/v1|"
)

// customKeyStoreOps are the six custom key store operations.
var customKeyStoreOps = map[string]Op{
	"CreateCustomKeyStore":     op("CreateCustomKeyStore", (*Service).CreateCustomKeyStore),
	"ConnectCustomKeyStore":    op("ConnectCustomKeyStore", (*Service).ConnectCustomKeyStore),
	"DisconnectCustomKeyStore": op("DisconnectCustomKeyStore", (*Service).DisconnectCustomKeyStore),
	"UpdateCustomKeyStore":     op("UpdateCustomKeyStore", (*Service).UpdateCustomKeyStore),
	"DeleteCustomKeyStore":     op("DeleteCustomKeyStore", (*Service).DeleteCustomKeyStore),
	"DescribeCustomKeyStores":  op("DescribeCustomKeyStores", (*Service).DescribeCustomKeyStores),
}

// ---- replicated commands ----

type putStoreCmd struct {
	Store  *storeRec `json:"store"`
	Expect uint64    `json:"expect"` // 0: create
}

type deleteStoreCmd struct {
	ID     string `json:"id"`
	Expect uint64 `json:"expect"`
}

// applyPutStore creates or replaces a store. Name uniqueness, the per-account quota and
// the one-store-per-cluster rule are checked here too, so concurrent requests cannot both
// pass them.
func applyPutStore(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[putStoreCmd](body)
	if err != nil {
		return nil, err
	}
	if c.Store == nil {
		return nil, errors.New("kms: store command without a store")
	}
	s.stMu.Lock()
	defer s.stMu.Unlock()
	n := c.Store
	old := s.stores[n.ID]
	if (old == nil && c.Expect != 0) || (old != nil && old.Revision != c.Expect) {
		return nil, errConflict
	}
	count := 0
	for _, o := range s.stores {
		if o.ID == n.ID || o.Region != n.Region || o.Account != n.Account {
			continue
		}
		count++
		if o.Name == n.Name {
			return nil, kmsErr("CustomKeyStoreNameInUseException", "The custom key store name %s is already used by custom key store %s in this account and Region.", n.Name, o.ID)
		}
		if o.ClusterID == n.ClusterID || (n.Lineage != "" && o.Lineage == n.Lineage) {
			return nil, kmsErr("CloudHsmClusterInUseException", "CloudHSM cluster %s is already associated with custom key store %s, or shares a backup history with its cluster %s.", n.ClusterID, o.ID, o.ClusterID)
		}
	}
	if old == nil && count >= maxCustomKeyStores {
		return nil, kmsErr("LimitExceededException", "This account already has %d custom key stores in %s, the maximum.", count, n.Region)
	}
	n.Revision = c.Expect + 1
	s.stores[n.ID] = n
	return nil, nil
}

// applyDeleteStore deletes a store that has no KMS keys.
func applyDeleteStore(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[deleteStoreCmd](body)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.stMu.Lock()
	defer s.stMu.Unlock()
	old := s.stores[c.ID]
	if old == nil || old.Revision != c.Expect {
		return nil, errConflict
	}
	if n := s.storeKeyCountLocked(c.ID); n > 0 {
		return nil, hasCMKs(c.ID, n)
	}
	delete(s.stores, c.ID)
	return nil, nil
}

// storeKeyCountLocked counts the KMS keys of a store. Caller holds s.mu.
func (s *Service) storeKeyCountLocked(id string) int {
	n := 0
	for _, k := range s.keys {
		if k.CustomKeyStoreID == id {
			n++
		}
	}
	return n
}

func hasCMKs(id string, n int) error {
	return kmsErr("CustomKeyStoreHasCMKsException", "Custom key store %s contains %d KMS key(s). Schedule their deletion (ScheduleKeyDeletion); once they are deleted you can delete the custom key store.", id, n)
}

// ---- lookups ----

// storeByID returns a copy of a store (any account), or nil.
func (s *Service) storeByID(id string) *storeRec {
	s.stMu.RLock()
	defer s.stMu.RUnlock()
	r := s.stores[id]
	if r == nil {
		return nil
	}
	return r.clone()
}

// lookupStore returns a copy of the caller's store id, or CustomKeyStoreNotFoundException.
func (s *Service) lookupStore(c Caller, id string) (*storeRec, error) {
	if err := validateStoreID(id); err != nil {
		return nil, err
	}
	r := s.storeByID(id)
	if r == nil || r.Region != c.Region || r.Account != c.Account {
		return nil, storeNotFound(c, id)
	}
	return r, nil
}

func storeNotFound(c Caller, id string) error {
	return kmsErr("CustomKeyStoreNotFoundException", "Custom key store %s does not exist in %s.", id, c.Region)
}

// storeConnected reports whether store id is CONNECTED.
func (s *Service) storeConnected(id string) bool {
	s.stMu.RLock()
	defer s.stMu.RUnlock()
	r := s.stores[id]
	return r != nil && r.State == ConnConnected
}

// keyState is the key state KMS reports: the keys of a custom key store that is not
// connected are Unavailable, except those pending deletion. The stored state (Enabled or
// Disabled) comes back when the store is connected again; EnableKey and DisableKey change
// it meanwhile without changing what is reported.
func (s *Service) keyState(k *keyRec) string {
	if k.CustomKeyStoreID != "" && (k.State == StateEnabled || k.State == StateDisabled) && !s.storeConnected(k.CustomKeyStoreID) {
		return StateUnavailable
	}
	return k.State
}

// requireUsable refuses cryptographic operations on keys that are not usable: unavailable
// (custom key store not connected), then requireEnabled.
func (s *Service) requireUsable(k *keyRec) error {
	if s.keyState(k) == StateUnavailable && k.State != StateUnavailable {
		state := "deleted"
		if r := s.storeByID(k.CustomKeyStoreID); r != nil {
			state = r.State
		}
		return invalidState("%s is unavailable. Its custom key store %s is %s; connect it (ConnectCustomKeyStore) to use the key.", k.arn(), k.CustomKeyStoreID, state)
	}
	return requireEnabled(k)
}

// updateStore runs a read-modify-write of a store record, retrying on concurrent updates.
// fn gets a copy to change; errNoChange skips the write and returns the current record.
func (s *Service) updateStore(ctx context.Context, c Caller, id string, fn func(r *storeRec) error) (*storeRec, error) {
	for attempt := 0; attempt < 10; attempt++ {
		r, err := s.lookupStore(c, id)
		if err != nil {
			return nil, err
		}
		nr := r.clone()
		if err := fn(nr); err != nil {
			if errors.Is(err, errNoChange) {
				return r, nil
			}
			return nil, err
		}
		err = s.propose(ctx, cmdPutStore, putStoreCmd{Store: nr, Expect: r.Revision})
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		nr.Revision = r.Revision + 1
		return nr, nil
	}
	return nil, kmsErr("KMSInternalException", "too many concurrent updates of custom key store %s; retry", id)
}

// ---- validation ----

func validateStoreID(id string) error {
	if id == "" {
		return validation("1 validation error detected: Value null at 'customKeyStoreId' failed to satisfy constraint: Member must not be null")
	}
	if len(id) > 64 {
		return validation("1 validation error detected: Value '%s' at 'customKeyStoreId' failed to satisfy constraint: Member must have length less than or equal to 64", id)
	}
	return nil
}

func validateStoreName(field, name string) error {
	if len(name) > 256 {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 256", name, field)
	}
	return nil
}

func validateClusterID(id string) error {
	if id != "" && (len(id) < 19 || len(id) > 24) {
		return memberLengthErr(id, "cloudHsmClusterId", 19, 24)
	}
	return nil
}

// validatePassword checks a kmsuser password's length; the value is sensitive and never
// appears in messages.
func validatePassword(pw string) error {
	if pw != "" && (len(pw) < hsm.MinPasswordLength || len(pw) > hsm.MaxPasswordLength) {
		return blobLengthErr("keyStorePassword", len(pw), hsm.MinPasswordLength, hsm.MaxPasswordLength)
	}
	return nil
}

// ---- clusters ----

// lookupCluster finds a cluster through Config.Clusters: CloudHsmClusterNotFoundException
// when there is none (or no CloudHSM API at all).
func (s *Service) lookupCluster(ctx context.Context, region, id string) (CloudHsmCluster, error) {
	if s.cfg.Clusters != nil {
		cl, ok, err := s.cfg.Clusters.LookupCluster(ctx, region, id)
		if err != nil {
			return CloudHsmCluster{}, kmsErr("KMSInternalException", "looking up CloudHSM cluster %s: %v", id, err)
		}
		if ok && cl.State != "DELETED" {
			if cl.ID == "" {
				cl.ID = id
			}
			return cl, nil
		}
	}
	return CloudHsmCluster{}, kmsErr("CloudHsmClusterNotFoundException", "CloudHSM cluster %s does not exist in %s.", id, region)
}

func isCode(err error, code string) bool {
	var ke *Error
	return errors.As(err, &ke) && ke.Code == code
}

func requireClusterActive(cl CloudHsmCluster) error {
	if cl.State != clusterActive {
		return kmsErr("CloudHsmClusterNotActiveException", "CloudHSM cluster %s is %s, not ACTIVE. Initialize and activate the cluster, then try again.", cl.ID, cl.State)
	}
	return nil
}

// requireClusterHSMs enforces AWS's rule for CreateCustomKeyStore, UpdateCustomKeyStore
// (new cluster) and CreateKey: at least two active HSMs in different availability zones.
// A --dev node's cluster needs only one.
func requireClusterHSMs(cl CloudHsmCluster) error {
	zones := slices.Clone(cl.HsmZones)
	slices.Sort(zones)
	zones = slices.Compact(zones)
	if len(cl.HsmZones) >= 2 && len(zones) >= 2 {
		return nil
	}
	if cl.Dev && len(cl.HsmZones) >= 1 {
		return nil
	}
	if cl.Dev {
		return kmsErr("CloudHsmClusterInvalidConfigurationException", "CloudHSM cluster %s has no active HSM. Add one with CreateHsm.", cl.ID)
	}
	return kmsErr("CloudHsmClusterInvalidConfigurationException",
		"CloudHSM cluster %s has %d active HSM(s) in %d availability zone(s) [%s]. An AWS CloudHSM key store needs at least two active HSMs in different availability zones; add HSMs with CreateHsm. (Coffer relaxes this rule only for the cluster of a node started with --dev.)",
		cl.ID, len(cl.HsmZones), len(zones), strings.Join(zones, ", "))
}

// certDER normalizes a certificate given as PEM (one or more blocks), base64 DER or raw
// text, for comparison.
func certDER(s string) []byte {
	rest := []byte(strings.TrimSpace(s))
	var der []byte
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		der = append(der, b.Bytes...)
	}
	if der != nil {
		return der
	}
	compact := strings.Join(strings.Fields(s), "")
	if d, err := base64.StdEncoding.DecodeString(compact); err == nil {
		return d
	}
	return []byte(compact)
}

// ---- CreateCustomKeyStore ----

// CreateCustomKeyStoreInput is CreateCustomKeyStore's request (the XKS fields are ignored:
// external key stores are not supported).
type CreateCustomKeyStoreInput struct {
	CustomKeyStoreName     string `json:"CustomKeyStoreName"`
	CloudHsmClusterId      string `json:"CloudHsmClusterId"`
	TrustAnchorCertificate string `json:"TrustAnchorCertificate"`
	KeyStorePassword       string `json:"KeyStorePassword"`
	CustomKeyStoreType     string `json:"CustomKeyStoreType"`
}

// CreateCustomKeyStoreOutput is CreateCustomKeyStore's response.
type CreateCustomKeyStoreOutput struct {
	CustomKeyStoreId string `json:"CustomKeyStoreId"`
}

// CreateCustomKeyStore creates an AWS CloudHSM key store, DISCONNECTED. The cluster must
// exist, be ACTIVE, not be used by (or related to the cluster of) another store of the
// account, have two HSMs in two zones (one with --dev), and have the trust anchor given.
// The kmsuser password is checked when the store connects, as AWS does.
func (s *Service) CreateCustomKeyStore(ctx context.Context, c Caller, in CreateCustomKeyStoreInput) (*CreateCustomKeyStoreOutput, error) {
	if in.CustomKeyStoreName == "" {
		return nil, validation("1 validation error detected: Value null at 'customKeyStoreName' failed to satisfy constraint: Member must not be null")
	}
	if err := validateStoreName("customKeyStoreName", in.CustomKeyStoreName); err != nil {
		return nil, err
	}
	switch in.CustomKeyStoreType {
	case "", StoreTypeCloudHSM:
	case StoreTypeExternal:
		return nil, kmsErr("UnsupportedOperationException", "external key stores (EXTERNAL_KEY_STORE) are not supported by Coffer")
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'customKeyStoreType' failed to satisfy constraint: Member must satisfy enum value set: [EXTERNAL_KEY_STORE, AWS_CLOUDHSM]", in.CustomKeyStoreType)
	}
	if err := validateClusterID(in.CloudHsmClusterId); err != nil {
		return nil, err
	}
	if len(in.TrustAnchorCertificate) > 5000 {
		return nil, validation("1 validation error detected: Value at 'trustAnchorCertificate' failed to satisfy constraint: Member must have length less than or equal to 5000")
	}
	if err := validatePassword(in.KeyStorePassword); err != nil {
		return nil, err
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"CloudHsmClusterId", in.CloudHsmClusterId},
		{"TrustAnchorCertificate", in.TrustAnchorCertificate}, {"KeyStorePassword", in.KeyStorePassword}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return nil, validation("%s is required for a custom key store of type AWS_CLOUDHSM.", missing[0])
	default:
		return nil, validation("%s are required for a custom key store of type AWS_CLOUDHSM.", strings.Join(missing, ", "))
	}
	// Checked again when the command applies.
	s.stMu.RLock()
	count := 0
	var nameUsedBy string
	for _, o := range s.stores {
		if o.Region == c.Region && o.Account == c.Account {
			count++
			if o.Name == in.CustomKeyStoreName {
				nameUsedBy = o.ID
			}
		}
	}
	s.stMu.RUnlock()
	if nameUsedBy != "" {
		return nil, kmsErr("CustomKeyStoreNameInUseException", "The custom key store name %s is already used by custom key store %s in this account and Region.", in.CustomKeyStoreName, nameUsedBy)
	}
	if count >= maxCustomKeyStores {
		return nil, kmsErr("LimitExceededException", "This account already has %d custom key stores in %s, the maximum.", count, c.Region)
	}
	cl, err := s.lookupCluster(ctx, c.Region, in.CloudHsmClusterId)
	if err != nil {
		return nil, err
	}
	s.stMu.RLock()
	for _, o := range s.stores {
		if o.Region == c.Region && o.Account == c.Account && (o.ClusterID == cl.ID || (cl.Lineage != "" && o.Lineage == cl.Lineage)) {
			s.stMu.RUnlock()
			return nil, kmsErr("CloudHsmClusterInUseException", "CloudHSM cluster %s is already associated with custom key store %s, or shares a backup history with its cluster %s.", cl.ID, o.ID, o.ClusterID)
		}
	}
	s.stMu.RUnlock()
	if err := requireClusterActive(cl); err != nil {
		return nil, err
	}
	if err := requireClusterHSMs(cl); err != nil {
		return nil, err
	}
	if cl.TrustAnchor == "" || !bytes.Equal(certDER(in.TrustAnchorCertificate), certDER(cl.TrustAnchor)) {
		return nil, kmsErr("IncorrectTrustAnchorException", "The trust anchor certificate in the request is not the trust anchor certificate of CloudHSM cluster %s (the customerCA.crt the cluster was initialized with).", cl.ID)
	}
	id, err := s.newStoreID()
	if err != nil {
		return nil, err
	}
	sealKey, sealDom, err := s.newSealKey(ctx, id)
	if err != nil {
		return nil, AsError(err)
	}
	sealed, err := s.sealPassword(ctx, sealKey, sealDom, id, in.KeyStorePassword)
	if err != nil {
		s.deleteSealKey(ctx, sealKey, sealDom)
		return nil, AsError(err)
	}
	rec := &storeRec{ID: id, Region: c.Region, Account: c.Account, Name: in.CustomKeyStoreName, Type: StoreTypeCloudHSM,
		ClusterID: cl.ID, Lineage: cl.Lineage, TrustAnchor: in.TrustAnchorCertificate, Created: s.now(),
		State: ConnDisconnected, SealKey: sealKey, SealKeyDomain: sealDom, Password: sealed}
	if err := s.propose(ctx, cmdPutStore, putStoreCmd{Store: rec}); err != nil {
		if definite(err) {
			s.deleteSealKey(ctx, sealKey, sealDom)
		} else if s.storeByID(id) == nil {
			s.cfg.Logger.Warn("kms: custom key store creation outcome unknown; keeping its password sealing key",
				"store", id, "seal_key", hsm.FormatKeyRef(sealKey), "err", err)
		}
		return nil, err
	}
	s.cfg.Logger.Info("kms: custom key store created", "store", id, "cluster", cl.ID, "region", c.Region)
	return &CreateCustomKeyStoreOutput{CustomKeyStoreId: id}, nil
}

// definite reports whether a failed proposal certainly did not commit.
func definite(err error) bool {
	var ke *Error
	return errors.As(err, &ke) || errors.Is(err, errConflict)
}

// isStoreID reports whether s has the form of a custom key store id (newStoreID).
func isStoreID(s string) bool {
	rest, ok := strings.CutPrefix(s, "cks-")
	return ok && len(rest) == 17 && strings.Trim(rest, "0123456789abcdef") == ""
}

// newStoreID returns "cks-" and 17 hex characters, as AWS's custom key store ids.
func (s *Service) newStoreID() (string, error) {
	b := make([]byte, 9)
	if _, err := s.cfg.Rand.Read(b); err != nil {
		return "", err
	}
	return "cks-" + hex.EncodeToString(b)[:17], nil
}

// newSealKey generates the AES key, owned by svc-kms, that seals the store's kmsuser
// password, and returns its handle and the HSM domain key id it was made under.
func (s *Service) newSealKey(ctx context.Context, id string) (uint64, string, error) {
	sess, err := s.session(ctx)
	if err != nil {
		return 0, "", err
	}
	dom := s.currentDomain() // in sess, before the object is made (domain.go)
	f, t := false, true
	ki, err := s.cfg.HSM.GenerateSymmetric(ctx, sess, hsm.GenerateSymmetricRequest{KeyType: hsm.TypeAES, KeyLengthBytes: 32,
		Attributes: hsm.AttrSpec{Label: "kms:" + id + ":kmsuser-password", Extractable: &f, Encrypt: &t, Decrypt: &t}})
	if err != nil {
		return 0, "", err
	}
	ref, err := hsm.ParseKeyRef(ki.KeyReference)
	return ref, dom, err
}

// deleteSealKey deletes a password sealing key, unless it went with another HSM domain.
func (s *Service) deleteSealKey(ctx context.Context, ref uint64, dom string) {
	sess, err := s.session(ctx)
	if err == nil {
		if otherDomain(dom, s.currentDomain()) {
			return // the handle may name another object now
		}
		err = s.cfg.HSM.DeleteKey(context.WithoutCancel(ctx), sess, ref, nil)
	}
	var nf *hsm.NotFoundError
	if err != nil && !errors.As(err, &nf) {
		s.cfg.Logger.Warn("kms: deleting a custom key store's password sealing key", "seal_key", hsm.FormatKeyRef(ref), "err", err)
	}
}

// errSealKeyGone: a store's password sealing key was made under another HSM domain key
// (the cluster was zeroized and initialized again); the sealed passwords are lost, and
// UpdateCustomKeyStore with KeyStorePassword makes a new sealing key.
var errSealKeyGone = errors.New("the key that sealed the " + KMSUser + " password is not in the HSM cluster (the cluster was zeroized); set the password again with UpdateCustomKeyStore")

// sealPassword encrypts a kmsuser password inside the HSM under the store's sealing key
// (made under domain key dom).
func (s *Service) sealPassword(ctx context.Context, sealKey uint64, dom, id, pw string) ([]byte, error) {
	sess, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	if otherDomain(dom, s.currentDomain()) {
		return nil, errSealKeyGone
	}
	return s.cfg.HSM.EncryptAESGCM(sess, sealKey, []byte(pw), []byte(passwordAAD+id), nil)
}

// unsealPassword reverses sealPassword.
func (s *Service) unsealPassword(ctx context.Context, r *storeRec, blob []byte) (string, error) {
	sess, err := s.session(ctx)
	if err != nil {
		return "", err
	}
	if otherDomain(r.SealKeyDomain, s.currentDomain()) {
		return "", errSealKeyGone
	}
	pt, err := s.cfg.HSM.DecryptAESGCM(sess, r.SealKey, blob, []byte(passwordAAD+r.ID), nil)
	if err != nil {
		return "", err
	}
	pw := string(pt)
	clear(pt)
	return pw, nil
}

// randomPassword returns a new kmsuser password: 32 characters from [A-Za-z0-9].
func (s *Service) randomPassword() (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, hsm.MaxPasswordLength)
	buf := make([]byte, 64)
	for len(out) < hsm.MaxPasswordLength {
		if _, err := s.cfg.Rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < 256-256%len(alphabet) && len(out) < hsm.MaxPasswordLength {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	clear(buf)
	return string(out), nil
}

// ---- Connect / Disconnect ----

// CustomKeyStoreIDInput is the request of ConnectCustomKeyStore, DisconnectCustomKeyStore
// and DeleteCustomKeyStore.
type CustomKeyStoreIDInput struct {
	CustomKeyStoreId string `json:"CustomKeyStoreId"`
}

// ConnectCustomKeyStore starts connecting a store and answers at once, as AWS does: the
// store is CONNECTING, then CONNECTED, or FAILED with a ConnectionErrorCode. Connecting a
// CONNECTED or CONNECTING store changes nothing; a FAILED store must be disconnected first.
// WaitCustomKeyStoreConnections waits for the attempts this node runs.
func (s *Service) ConnectCustomKeyStore(ctx context.Context, c Caller, in CustomKeyStoreIDInput) (struct{}, error) {
	var attempt string
	r, err := s.updateStore(ctx, c, in.CustomKeyStoreId, func(r *storeRec) error {
		attempt = ""
		switch r.State {
		case ConnConnected, ConnConnecting:
			return errNoChange
		case ConnFailed:
			return kmsErr("CustomKeyStoreInvalidStateException", "Custom key store %s is FAILED (%s). Disconnect it (DisconnectCustomKeyStore), fix the problem, then connect it again.", r.ID, r.ErrorCode)
		case ConnDisconnecting:
			return kmsErr("CustomKeyStoreInvalidStateException", "Custom key store %s is DISCONNECTING; try again when it is DISCONNECTED.", r.ID)
		}
		b := make([]byte, 8)
		if _, err := s.cfg.Rand.Read(b); err != nil {
			return err
		}
		attempt = hex.EncodeToString(b)
		r.State, r.ErrorCode, r.Attempt, r.AttemptStarted = ConnConnecting, "", attempt, s.now()
		return nil
	})
	if err != nil {
		return struct{}{}, err
	}
	switch {
	case attempt != "" && r.Attempt == attempt:
		s.startConnect(r.ID, attempt)
	case r.State == ConnConnecting && s.now().Sub(r.AttemptStarted) > staleAttempt:
		s.startConnect(r.ID, r.Attempt) // an attempt that nothing finishes (restart)
	}
	return struct{}{}, nil
}

// WaitCustomKeyStoreConnections waits until the connection attempts started on this node
// have ended (for tests and orderly shutdown).
func (s *Service) WaitCustomKeyStoreConnections() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for len(s.attempts) > 0 {
		s.attemptsDone.Wait()
	}
}

// startConnect runs a connection attempt in the background unless one runs for the store.
func (s *Service) startConnect(id, attempt string) {
	if !s.claimAttempt(id) {
		return
	}
	go func() {
		defer s.releaseAttempt(id)
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		defer cancel()
		s.runConnect(ctx, id, attempt)
	}()
}

func (s *Service) claimAttempt(id string) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.attempts[id] {
		return false
	}
	s.attempts[id] = true
	return true
}

func (s *Service) releaseAttempt(id string) {
	s.connMu.Lock()
	delete(s.attempts, id)
	s.attemptsDone.Broadcast()
	s.connMu.Unlock()
}

var errAbandoned = errors.New("kms: connection attempt abandoned")

// runConnect is one connection attempt: find the cluster, log in as kmsuser, rotate its
// password (recorded as pending first, so that a crash in between cannot lose it), then
// mark the store CONNECTED. Any failure marks it FAILED with the ConnectionErrorCode.
func (s *Service) runConnect(ctx context.Context, id, attempt string) {
	r := s.storeByID(id)
	if r == nil || r.State != ConnConnecting || r.Attempt != attempt {
		return
	}
	c := Caller{Region: r.Region, Account: r.Account}
	ours := func(r *storeRec) bool { return r.State == ConnConnecting && r.Attempt == attempt }
	fail := func(code string, why error) {
		s.cfg.Logger.Warn("kms: connecting a custom key store failed", "store", id, "cluster", r.ClusterID, "code", code, "err", why)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, err := s.updateStore(ctx, c, id, func(r *storeRec) error {
			if !ours(r) {
				return errNoChange
			}
			r.State, r.ErrorCode, r.Attempt, r.AttemptStarted = ConnFailed, code, "", time.Time{}
			return nil
		})
		if err != nil {
			s.cfg.Logger.Warn("kms: recording a failed connection", "store", id, "err", err)
		}
	}
	cl, err := s.lookupCluster(ctx, r.Region, r.ClusterID)
	switch {
	case isCode(err, "CloudHsmClusterNotFoundException"):
		fail(ErrCodeClusterNotFound, err)
		return
	case err != nil:
		fail(ErrCodeInternal, err)
		return
	case cl.State != clusterActive || len(cl.HsmZones) == 0:
		fail(ErrCodeInsufficientHSMs, fmt.Errorf("cluster %s is %s with %d active HSM(s)", cl.ID, cl.State, len(cl.HsmZones)))
		return
	}
	l, code, err := s.loginKMSUser(ctx, r)
	if err != nil {
		fail(code, err)
		return
	}
	logout := func() { _ = s.cfg.HSM.Logout(l.token) }
	newPW, err := s.randomPassword()
	if err != nil {
		logout()
		fail(ErrCodeInternal, err)
		return
	}
	sealed, err := s.sealPassword(ctx, r.SealKey, r.SealKeyDomain, id, newPW)
	if err != nil {
		logout()
		fail(ErrCodeInternal, err)
		return
	}
	_, err = s.updateStore(ctx, c, id, func(nr *storeRec) error {
		if !ours(nr) {
			return errAbandoned
		}
		if l.usedPending {
			nr.Password = nr.PendingPassword
		}
		nr.PendingPassword = sealed
		return nil
	})
	if err != nil {
		logout()
		if !errors.Is(err, errAbandoned) {
			fail(ErrCodeInternal, err)
		}
		return
	}
	if err := s.cfg.HSM.ChangePassword(ctx, l.sess, KMSUser, hsm.RoleCrypto, newPW, nil); err != nil {
		// The pending password stays recorded: if the change did reach the HSM, logins
		// fall back to it.
		logout()
		fail(ErrCodeInternal, fmt.Errorf("rotating the %s password: %w", KMSUser, err))
		return
	}
	// The HSM has the new password now: record it even if the attempt's time ran out.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	connected := false
	_, err = s.updateStore(cctx, c, id, func(nr *storeRec) error {
		connected = false
		if !bytes.Equal(nr.PendingPassword, sealed) {
			return errNoChange
		}
		nr.Password, nr.PendingPassword = sealed, nil
		if ours(nr) {
			nr.State, nr.ErrorCode, nr.Attempt, nr.AttemptStarted = ConnConnected, "", "", time.Time{}
			connected = true
		}
		return nil
	})
	if err != nil || !connected {
		logout()
		if err != nil {
			fail(ErrCodeInternal, err)
		}
		return
	}
	s.connMu.Lock()
	old := s.conns[id]
	s.conns[id] = &storeConn{token: l.token, sess: l.sess}
	s.connMu.Unlock()
	if old != nil {
		_ = s.cfg.HSM.Logout(old.token)
	}
	s.cfg.Logger.Info("kms: custom key store connected", "store", id, "cluster", r.ClusterID)
}

// storeConn is this node's kmsuser session for a connected store.
type storeConn struct {
	token string
	sess  *hsm.Session
}

type kmsuserLogin struct {
	sess        *hsm.Session
	token       string
	usedPending bool // logged in with the pending password of an interrupted rotation
}

// loginKMSUser logs in to the HSM as kmsuser with the store's sealed password (or, when
// that fails and a rotation was interrupted, its pending password). On failure it returns
// the ConnectionErrorCode that describes it.
func (s *Service) loginKMSUser(ctx context.Context, r *storeRec) (kmsuserLogin, string, error) {
	svc, err := s.session(ctx)
	if err != nil {
		return kmsuserLogin{}, coreCode(err), err
	}
	users, err := s.cfg.HSM.ListUsers(svc)
	if err != nil {
		return kmsuserLogin{}, coreCode(err), err
	}
	found := false
	for _, u := range users {
		if u.Username == KMSUser && u.Role == hsm.RoleCrypto {
			found = true
			if u.Locked == "true" {
				return kmsuserLogin{}, ErrCodeUserLockedOut, hsm.ErrUserLocked
			}
		}
	}
	if !found {
		return kmsuserLogin{}, ErrCodeUserNotFound, fmt.Errorf("the cluster has no crypto user %s", KMSUser)
	}
	try := func(blob []byte) (kmsuserLogin, string, error) {
		pw, err := s.unsealPassword(ctx, r, blob)
		if err != nil {
			return kmsuserLogin{}, coreCode(err), fmt.Errorf("unsealing the %s password: %w", KMSUser, err)
		}
		res, err := s.cfg.HSM.Login(ctx, hsm.LoginRequest{Username: KMSUser, Role: hsm.RoleCrypto, Password: pw})
		var lf *hsm.LoginFailedError
		switch {
		case errors.Is(err, hsm.ErrUserLocked), errors.As(err, &lf) && lf.Locked:
			return kmsuserLogin{}, ErrCodeUserLockedOut, err
		case errors.Is(err, hsm.ErrLoginFailed):
			return kmsuserLogin{}, ErrCodeInvalidCreds, err
		case err != nil:
			return kmsuserLogin{}, coreCode(err), err
		case res.Session == nil:
			return kmsuserLogin{}, ErrCodeInvalidCreds, fmt.Errorf("%s has multi-factor authentication; KMS cannot log in as it", KMSUser)
		}
		return kmsuserLogin{sess: res.Session, token: res.Token}, "", nil
	}
	l, code, err := try(r.Password)
	if code == ErrCodeInvalidCreds && len(r.PendingPassword) > 0 {
		if l2, _, err2 := try(r.PendingPassword); err2 == nil {
			l2.usedPending = true
			return l2, "", nil
		}
	}
	return l, code, err
}

// coreCode maps an HSM failure to a ConnectionErrorCode: a zeroized or uninitialized HSM
// has no usable HSM; anything else is an internal error.
func coreCode(err error) string {
	switch {
	case errors.Is(err, hsm.ErrZeroized) || errors.Is(err, hsm.ErrNotInitialized):
		return ErrCodeInsufficientHSMs
	case errors.Is(err, errSealKeyGone):
		// KMS no longer has a usable kmsuser password: the fix is a new one.
		return ErrCodeInvalidCreds
	}
	return ErrCodeInternal
}

// DisconnectCustomKeyStore disconnects a store: it is DISCONNECTED at once, KMS logs out
// of the cluster, and the store's keys are Unavailable until it is connected again.
func (s *Service) DisconnectCustomKeyStore(ctx context.Context, c Caller, in CustomKeyStoreIDInput) (struct{}, error) {
	_, err := s.updateStore(ctx, c, in.CustomKeyStoreId, func(r *storeRec) error {
		if r.State == ConnDisconnected || r.State == ConnDisconnecting {
			return kmsErr("CustomKeyStoreInvalidStateException", "Custom key store %s is already %s.", r.ID, r.State)
		}
		r.State, r.ErrorCode, r.Attempt, r.AttemptStarted = ConnDisconnected, "", "", time.Time{}
		return nil
	})
	if err != nil {
		return struct{}{}, err
	}
	s.dropConn(in.CustomKeyStoreId)
	return struct{}{}, nil
}

// dropConn logs out of this node's kmsuser session of a store.
func (s *Service) dropConn(id string) {
	s.connMu.Lock()
	c := s.conns[id]
	delete(s.conns, id)
	s.connMu.Unlock()
	if c != nil {
		_ = s.cfg.HSM.Logout(c.token)
	}
}

// forgetConn drops the store's session if it is still sess (it stopped working).
func (s *Service) forgetConn(id string, sess *hsm.Session) {
	s.connMu.Lock()
	c := s.conns[id]
	if c != nil && c.sess == sess {
		delete(s.conns, id)
	} else {
		c = nil
	}
	s.connMu.Unlock()
	if c != nil {
		_ = s.cfg.HSM.Logout(c.token)
	}
}

// storeSession returns this node's kmsuser session of a CONNECTED store, logging in again
// with the sealed password when there is none (restart) or it expired. subject names what
// needs it, for messages. When the login fails for a reason that reconnecting will not fix
// by itself (wrong or rotated-away password, locked or deleted kmsuser, zeroized HSM) the
// store becomes FAILED with that ConnectionErrorCode.
func (s *Service) storeSession(ctx context.Context, id, subject string) (*hsm.Session, error) {
	r := s.storeByID(id)
	if r == nil {
		return nil, invalidState("%s is unavailable: its custom key store %s does not exist.", subject, id)
	}
	if r.State != ConnConnected {
		s.dropConn(id)
		return nil, invalidState("%s is unavailable: its custom key store %s is %s.", subject, id, r.State)
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if c := s.conns[id]; c != nil {
		if sess, err := s.cfg.HSM.Session(c.token); err == nil {
			return sess, nil
		}
		delete(s.conns, id)
	}
	l, code, err := s.loginKMSUser(ctx, r)
	if err != nil {
		if code != ErrCodeInternal {
			s.storeLost(ctx, r, code, err)
		} else {
			s.cfg.Logger.Warn("kms: logging in to a custom key store's cluster", "store", id, "err", err)
		}
		return nil, invalidState("%s is unavailable: KMS cannot log in to CloudHSM cluster %s of custom key store %s as %s (%s).", subject, r.ClusterID, id, KMSUser, code)
	}
	if l.usedPending {
		// A rotation was interrupted after it reached the HSM: the pending password is current.
		_, err := s.updateStore(ctx, Caller{Region: r.Region, Account: r.Account}, id, func(nr *storeRec) error {
			if len(nr.PendingPassword) == 0 || !bytes.Equal(nr.PendingPassword, r.PendingPassword) {
				return errNoChange
			}
			nr.Password, nr.PendingPassword = nr.PendingPassword, nil
			return nil
		})
		if err != nil {
			s.cfg.Logger.Warn("kms: recording the current kmsuser password", "store", id, "err", err)
		}
	}
	s.conns[id] = &storeConn{token: l.token, sess: l.sess}
	return l.sess, nil
}

// storeLost marks a CONNECTED store FAILED with code: KMS lost its connection.
func (s *Service) storeLost(ctx context.Context, r *storeRec, code string, why error) {
	s.cfg.Logger.Warn("kms: custom key store lost its connection", "store", r.ID, "cluster", r.ClusterID, "code", code, "err", why)
	_, err := s.updateStore(ctx, Caller{Region: r.Region, Account: r.Account}, r.ID, func(nr *storeRec) error {
		if nr.State != ConnConnected {
			return errNoChange
		}
		nr.State, nr.ErrorCode = ConnFailed, code
		return nil
	})
	if err != nil {
		s.cfg.Logger.Warn("kms: recording a lost custom key store connection", "store", r.ID, "err", err)
	}
}

// withKeySession runs fn with the HSM session that may use k's material: svc-kms's for
// standard keys, kmsuser's for keys of a custom key store (logging in again once when the
// session ended meanwhile).
// A session that ends under the operation (zeroization, expiry) is replaced once, so that
// the caller sees why (e.g. hsm.ErrZeroized) rather than hsm.ErrNotLoggedIn.
func (s *Service) withKeySession(ctx context.Context, k *keyRec, fn func(*hsm.Session) error) error {
	for try := 0; ; try++ {
		var sess *hsm.Session
		var err error
		if k.CustomKeyStoreID == "" {
			sess, err = s.session(ctx)
		} else {
			sess, err = s.storeSession(ctx, k.CustomKeyStoreID, k.arn())
		}
		if err != nil {
			return err
		}
		err = fn(sess)
		if errors.Is(err, hsm.ErrNotLoggedIn) && try == 0 {
			if k.CustomKeyStoreID != "" {
				s.forgetConn(k.CustomKeyStoreID, sess)
			}
			continue
		}
		return err
	}
}

// tickStores takes over connection attempts that nothing finishes (the node restarted
// while a store was CONNECTING), and marks CONNECTED stores FAILED when the HSM behind them
// was zeroized (every cluster of a node is served by the node's one HSM core), so that
// DescribeCustomKeyStores tells before a key is used.
func (s *Service) tickStores(ctx context.Context) error {
	now := s.now()
	type ref struct{ id, attempt string }
	var due []ref
	var lost []*storeRec
	zeroized := s.cfg.HSM != nil && s.cfg.HSM.Status().State == hsm.StateUninitialized
	s.stMu.RLock()
	for _, r := range s.stores {
		if r.State == ConnConnecting && now.Sub(r.AttemptStarted) > staleAttempt {
			due = append(due, ref{r.ID, r.Attempt})
		}
		if r.State == ConnConnected && zeroized {
			lost = append(lost, r.clone())
		}
	}
	s.stMu.RUnlock()
	for _, r := range lost {
		s.dropConn(r.ID)
		s.storeLost(ctx, r, ErrCodeInsufficientHSMs, hsm.ErrZeroized)
	}
	for _, d := range due {
		if !s.claimAttempt(d.id) {
			continue
		}
		s.runConnect(ctx, d.id, d.attempt)
		s.releaseAttempt(d.id)
	}
	return nil
}

// ---- Update / Delete ----

// UpdateCustomKeyStoreInput is UpdateCustomKeyStore's request.
type UpdateCustomKeyStoreInput struct {
	CustomKeyStoreId      string `json:"CustomKeyStoreId"`
	NewCustomKeyStoreName string `json:"NewCustomKeyStoreName"`
	KeyStorePassword      string `json:"KeyStorePassword"`
	CloudHsmClusterId     string `json:"CloudHsmClusterId"`

	XksProxyUriEndpoint              string          `json:"XksProxyUriEndpoint"`
	XksProxyUriPath                  string          `json:"XksProxyUriPath"`
	XksProxyVpcEndpointServiceName   string          `json:"XksProxyVpcEndpointServiceName"`
	XksProxyConnectivity             string          `json:"XksProxyConnectivity"`
	XksProxyAuthenticationCredential json.RawMessage `json:"XksProxyAuthenticationCredential"`
}

// UpdateCustomKeyStore renames a store, tells KMS kmsuser's current password (it does not
// change it in the cluster), or moves the store to a related cluster (one that shares the
// original cluster's backup history, e.g. restored from its backup). The store must be
// DISCONNECTED.
func (s *Service) UpdateCustomKeyStore(ctx context.Context, c Caller, in UpdateCustomKeyStoreInput) (struct{}, error) {
	if err := validateStoreID(in.CustomKeyStoreId); err != nil {
		return struct{}{}, err
	}
	if err := validateStoreName("newCustomKeyStoreName", in.NewCustomKeyStoreName); err != nil {
		return struct{}{}, err
	}
	if err := validatePassword(in.KeyStorePassword); err != nil {
		return struct{}{}, err
	}
	if err := validateClusterID(in.CloudHsmClusterId); err != nil {
		return struct{}{}, err
	}
	r, err := s.lookupStore(c, in.CustomKeyStoreId)
	if err != nil {
		return struct{}{}, err
	}
	if in.XksProxyUriEndpoint != "" || in.XksProxyUriPath != "" || in.XksProxyVpcEndpointServiceName != "" ||
		in.XksProxyConnectivity != "" || len(in.XksProxyAuthenticationCredential) > 0 {
		return struct{}{}, validation("The XksProxy* parameters are valid only for custom key stores of type EXTERNAL_KEY_STORE; %s is an AWS_CLOUDHSM key store.", r.ID)
	}
	if r.State != ConnDisconnected {
		return struct{}{}, notDisconnected(r, "updated")
	}
	var cl CloudHsmCluster
	newCluster := in.CloudHsmClusterId != "" && in.CloudHsmClusterId != r.ClusterID
	if newCluster {
		if cl, err = s.lookupCluster(ctx, c.Region, in.CloudHsmClusterId); err != nil {
			return struct{}{}, err
		}
		if r.Lineage == "" || cl.Lineage != r.Lineage {
			return struct{}{}, kmsErr("CloudHsmClusterNotRelatedException", "CloudHSM cluster %s is not related to cluster %s of custom key store %s: it does not share its backup history. Specify a cluster created from a backup of the original cluster (or from the backup the original was created from).", cl.ID, r.ClusterID, r.ID)
		}
		if err := requireClusterActive(cl); err != nil {
			return struct{}{}, err
		}
		if err := requireClusterHSMs(cl); err != nil {
			return struct{}{}, err
		}
	}
	var sealed []byte
	var newSeal *storeRec // SealKey and SealKeyDomain of a new sealing key
	if in.KeyStorePassword != "" {
		sealed, err = s.sealPassword(ctx, r.SealKey, r.SealKeyDomain, r.ID, in.KeyStorePassword)
		if errors.Is(err, errSealKeyGone) {
			// The sealing key went with the cluster's old domain: make a new one.
			newSeal = &storeRec{}
			if newSeal.SealKey, newSeal.SealKeyDomain, err = s.newSealKey(ctx, r.ID); err != nil {
				return struct{}{}, AsError(err)
			}
			if sealed, err = s.sealPassword(ctx, newSeal.SealKey, newSeal.SealKeyDomain, r.ID, in.KeyStorePassword); err != nil {
				s.deleteSealKey(ctx, newSeal.SealKey, newSeal.SealKeyDomain)
				return struct{}{}, AsError(err)
			}
		}
		if err != nil {
			return struct{}{}, AsError(err)
		}
	}
	_, err = s.updateStore(ctx, c, in.CustomKeyStoreId, func(nr *storeRec) error {
		if nr.State != ConnDisconnected {
			return notDisconnected(nr, "updated")
		}
		changed := false
		if in.NewCustomKeyStoreName != "" && in.NewCustomKeyStoreName != nr.Name {
			nr.Name, changed = in.NewCustomKeyStoreName, true
		}
		if newCluster {
			nr.ClusterID, changed = cl.ID, true
			if cl.TrustAnchor != "" {
				nr.TrustAnchor = cl.TrustAnchor
			}
		}
		if sealed != nil {
			nr.Password, nr.PendingPassword, changed = sealed, nil, true
		}
		if newSeal != nil {
			if nr.SealKey != r.SealKey || nr.SealKeyDomain != r.SealKeyDomain {
				return kmsErr("KMSInternalException", "the password sealing key of custom key store %s was replaced by a concurrent update; retry", nr.ID)
			}
			nr.SealKey, nr.SealKeyDomain = newSeal.SealKey, newSeal.SealKeyDomain
		}
		if !changed {
			return errNoChange
		}
		return nil
	})
	if err != nil && newSeal != nil && definite(err) {
		s.deleteSealKey(ctx, newSeal.SealKey, newSeal.SealKeyDomain)
	}
	return struct{}{}, err
}

func notDisconnected(r *storeRec, what string) error {
	return kmsErr("CustomKeyStoreInvalidStateException", "Custom key store %s is %s. It must be DISCONNECTED to be %s; disconnect it first (DisconnectCustomKeyStore).", r.ID, r.State, what)
}

// DeleteCustomKeyStore deletes a DISCONNECTED store that has no KMS keys. The cluster,
// its users and keys are not affected; the key that sealed kmsuser's password is deleted.
func (s *Service) DeleteCustomKeyStore(ctx context.Context, c Caller, in CustomKeyStoreIDInput) (struct{}, error) {
	for attempt := 0; attempt < 10; attempt++ {
		r, err := s.lookupStore(c, in.CustomKeyStoreId)
		if err != nil {
			return struct{}{}, err
		}
		if r.State != ConnDisconnected {
			return struct{}{}, notDisconnected(r, "deleted")
		}
		s.mu.RLock()
		n := s.storeKeyCountLocked(r.ID)
		s.mu.RUnlock()
		if n > 0 {
			return struct{}{}, hasCMKs(r.ID, n)
		}
		err = s.propose(ctx, cmdDeleteStore, deleteStoreCmd{ID: r.ID, Expect: r.Revision})
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return struct{}{}, err
		}
		s.dropConn(r.ID)
		s.deleteSealKey(ctx, r.SealKey, r.SealKeyDomain)
		s.cfg.Logger.Info("kms: custom key store deleted", "store", r.ID, "cluster", r.ClusterID)
		return struct{}{}, nil
	}
	return struct{}{}, kmsErr("KMSInternalException", "too many concurrent updates of custom key store %s; retry", in.CustomKeyStoreId)
}

// ---- Describe ----

// DescribeCustomKeyStoresInput is DescribeCustomKeyStores's request.
type DescribeCustomKeyStoresInput struct {
	CustomKeyStoreId   string `json:"CustomKeyStoreId"`
	CustomKeyStoreName string `json:"CustomKeyStoreName"`
	Limit              *int   `json:"Limit"`
	Marker             string `json:"Marker"`
}

// CustomKeyStoresListEntry describes one custom key store.
type CustomKeyStoresListEntry struct {
	CustomKeyStoreId       string `json:"CustomKeyStoreId"`
	CustomKeyStoreName     string `json:"CustomKeyStoreName"`
	CloudHsmClusterId      string `json:"CloudHsmClusterId,omitempty"`
	TrustAnchorCertificate string `json:"TrustAnchorCertificate,omitempty"`
	ConnectionState        string `json:"ConnectionState"`
	ConnectionErrorCode    string `json:"ConnectionErrorCode,omitempty"`
	CreationDate           *Epoch `json:"CreationDate,omitempty"`
	CustomKeyStoreType     string `json:"CustomKeyStoreType"`
}

// DescribeCustomKeyStoresOutput is DescribeCustomKeyStores's response.
type DescribeCustomKeyStoresOutput struct {
	CustomKeyStores []CustomKeyStoresListEntry `json:"CustomKeyStores"`
	NextMarker      string                     `json:"NextMarker,omitempty"`
	Truncated       bool                       `json:"Truncated"`
}

func storeEntry(r *storeRec) CustomKeyStoresListEntry {
	e := CustomKeyStoresListEntry{CustomKeyStoreId: r.ID, CustomKeyStoreName: r.Name, CloudHsmClusterId: r.ClusterID,
		TrustAnchorCertificate: r.TrustAnchor, ConnectionState: r.State, CreationDate: epochPtr(r.Created),
		CustomKeyStoreType: r.Type}
	if r.State == ConnFailed {
		e.ConnectionErrorCode = r.ErrorCode
	}
	return e
}

// DescribeCustomKeyStores lists the custom key stores of the account and Region, or the
// one named by CustomKeyStoreId or CustomKeyStoreName.
func (s *Service) DescribeCustomKeyStores(ctx context.Context, c Caller, in DescribeCustomKeyStoresInput) (*DescribeCustomKeyStoresOutput, error) {
	n, err := limit(in.Limit, 100, 1000)
	if err != nil {
		return nil, err
	}
	if in.CustomKeyStoreId != "" && in.CustomKeyStoreName != "" {
		return nil, validation("Specify either CustomKeyStoreId or CustomKeyStoreName, not both.")
	}
	if err := validateStoreName("customKeyStoreName", in.CustomKeyStoreName); err != nil {
		return nil, err
	}
	if in.CustomKeyStoreId != "" {
		if err := validateStoreID(in.CustomKeyStoreId); err != nil {
			return nil, err
		}
	}
	byID := map[string]*storeRec{}
	var ids []string
	s.stMu.RLock()
	for _, r := range s.stores {
		if r.Region != c.Region || r.Account != c.Account {
			continue
		}
		if (in.CustomKeyStoreId != "" && r.ID != in.CustomKeyStoreId) || (in.CustomKeyStoreName != "" && r.Name != in.CustomKeyStoreName) {
			continue
		}
		byID[r.ID] = r.clone()
		ids = append(ids, r.ID)
	}
	s.stMu.RUnlock()
	if len(ids) == 0 && (in.CustomKeyStoreId != "" || in.CustomKeyStoreName != "") {
		return nil, kmsErr("CustomKeyStoreNotFoundException", "Custom key store %s%s does not exist in %s.", in.CustomKeyStoreId, in.CustomKeyStoreName, c.Region)
	}
	sort.Strings(ids)
	pg, next, err := page(ids, in.Marker, n, isStoreID)
	if err != nil {
		return nil, err
	}
	out := &DescribeCustomKeyStoresOutput{CustomKeyStores: []CustomKeyStoresListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, id := range pg {
		out.CustomKeyStores = append(out.CustomKeyStores, storeEntry(byID[id]))
	}
	return out, nil
}
