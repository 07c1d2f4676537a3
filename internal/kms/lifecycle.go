package kms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// lifecycleOps: rotation, deletion, GetKeyLastUsage.
var lifecycleOps = map[string]Op{
	"EnableKeyRotation":    opNoOutput("EnableKeyRotation", (*Service).EnableKeyRotation),
	"DisableKeyRotation":   opNoOutput("DisableKeyRotation", (*Service).DisableKeyRotation),
	"GetKeyRotationStatus": op("GetKeyRotationStatus", (*Service).GetKeyRotationStatus),
	"RotateKeyOnDemand":    op("RotateKeyOnDemand", (*Service).RotateKeyOnDemand),
	"ListKeyRotations":     op("ListKeyRotations", (*Service).ListKeyRotations),
	"ScheduleKeyDeletion":  op("ScheduleKeyDeletion", (*Service).ScheduleKeyDeletion),
	"CancelKeyDeletion":    op("CancelKeyDeletion", (*Service).CancelKeyDeletion),
	"GetKeyLastUsage":      op("GetKeyLastUsage", (*Service).GetKeyLastUsage),
}

// AWS KMS's documented ranges and defaults.
const (
	minRotationPeriodDays     = 90
	maxRotationPeriodDays     = 2560
	defaultRotationPeriodDays = 365
	maxOnDemandRotations      = 25
	minPendingWindowDays      = 7
	maxPendingWindowDays      = 30
	defaultPendingWindowDays  = 30

	rotationAutomatic = "AUTOMATIC"
	rotationOnDemand  = "ON_DEMAND"

	day = 24 * time.Hour
)

// ---- rotation ----

// isReplica reports whether k is a Multi-Region replica key (its material's primary region
// is another region).
func isReplica(k *keyRec, m *material) bool {
	return k.MultiRegion && m.PrimaryRegion != "" && m.PrimaryRegion != k.Region
}

// requireRotatable refuses rotation (EnableKeyRotation, DisableKeyRotation,
// RotateKeyOnDemand) of keys whose state or type does not allow it, with AWS's
// exceptions: the key state first (Disabled: DisabledException, PendingDeletion,
// PendingImport, Unavailable...: KMSInvalidStateException), then the key type
// (UnsupportedOperationException).
func (s *Service) requireRotatable(k *keyRec, m *material) error {
	if err := s.requireUsable(k); err != nil {
		return err
	}
	return requireRotatableType(k, m)
}

func requireRotatableType(k *keyRec, m *material) error {
	switch {
	case k.Spec != SpecSymmetric:
		return kmsErr("UnsupportedOperationException", "%s is a %s key. Key rotation is supported only on symmetric encryption KMS keys.", k.arn(), k.Spec)
	case k.Origin == OriginExternal:
		return kmsErr("UnsupportedOperationException", "%s has imported key material (origin EXTERNAL). Automatic key rotation is not supported for KMS keys with imported key material.", k.arn())
	case k.Origin != OriginKMS && k.Origin != OriginCloudHSM, k.Origin == OriginKMS && k.CustomKeyStoreID != "":
		// Keys of AWS CloudHSM key stores rotate in Coffer (an extension: AWS KMS does not
		// rotate keys in custom key stores); the new version is made in the cluster.
		return kmsErr("UnsupportedOperationException", "%s is in a custom key store. Key rotation is not supported for KMS keys in a custom key store.", k.arn())
	case isReplica(k, m):
		return kmsErr("UnsupportedOperationException", "%s is a Multi-Region replica key. Rotation of Multi-Region keys is managed on the primary key in %s.", k.arn(), m.PrimaryRegion)
	}
	return nil
}

// EnableKeyRotationInput is EnableKeyRotation's request.
type EnableKeyRotationInput struct {
	KeyId                string `json:"KeyId"`
	RotationPeriodInDays *int   `json:"RotationPeriodInDays"`
}

// EnableKeyRotation enables automatic rotation of a symmetric encryption key every
// RotationPeriodInDays (90 to 2560, default 365). Calling it on a key whose rotation is
// already enabled changes the period: the next rotation moves by the difference.
func (s *Service) EnableKeyRotation(ctx context.Context, c Caller, in EnableKeyRotationInput) error {
	period := defaultRotationPeriodDays
	if in.RotationPeriodInDays != nil {
		period = *in.RotationPeriodInDays
		if period < minRotationPeriodDays {
			return validation("1 validation error detected: Value '%d' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value greater than or equal to %d", period, minRotationPeriodDays)
		}
		if period > maxRotationPeriodDays {
			return validation("1 validation error detected: Value '%d' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to %d", period, maxRotationPeriodDays)
		}
	}
	_, err := s.update(ctx, c, in.KeyId, func(k *keyRec, m *material) error {
		if err := s.requireRotatable(k, m); err != nil {
			return err
		}
		now := s.now()
		switch {
		case !k.Rotation.Enabled || k.Rotation.Next.IsZero():
			k.Rotation.Next = now.Add(time.Duration(period) * day)
		case k.Rotation.PeriodDays == period:
			return errNoChange
		default:
			// Same schedule start, new period; if that is already past, the scheduler
			// rotates at its next tick.
			old := k.Rotation.PeriodDays
			if old == 0 {
				old = defaultRotationPeriodDays
			}
			k.Rotation.Next = k.Rotation.Next.Add(time.Duration(period-old) * day)
		}
		k.Rotation.Enabled = true
		k.Rotation.PeriodDays = period
		return nil
	})
	return err
}

// DisableKeyRotation disables automatic rotation. Existing versions are kept.
func (s *Service) DisableKeyRotation(ctx context.Context, c Caller, in KeyIDInput) error {
	_, err := s.update(ctx, c, in.KeyId, func(k *keyRec, m *material) error {
		if err := s.requireRotatable(k, m); err != nil {
			return err
		}
		if !k.Rotation.Enabled {
			return errNoChange
		}
		k.Rotation = rotation{}
		return nil
	})
	return err
}

// GetKeyRotationStatusOutput is GetKeyRotationStatus's response.
type GetKeyRotationStatusOutput struct {
	KeyRotationEnabled        bool   `json:"KeyRotationEnabled"`
	KeyId                     string `json:"KeyId"`
	RotationPeriodInDays      int    `json:"RotationPeriodInDays,omitempty"`
	NextRotationDate          *Epoch `json:"NextRotationDate,omitempty"`
	OnDemandRotationStartDate *Epoch `json:"OnDemandRotationStartDate,omitempty"`
}

// GetKeyRotationStatus tells whether automatic rotation is enabled, its period and the
// next rotation date. A replica reports its primary key's setting; a key pending deletion
// reports false (its setting comes back if the deletion is canceled). On-demand rotations
// complete within the RotateKeyOnDemand call, so OnDemandRotationStartDate is never set.
func (s *Service) GetKeyRotationStatus(ctx context.Context, c Caller, in KeyIDInput) (*GetKeyRotationStatusOutput, error) {
	s.mu.RLock()
	k, m, err := s.resolveLocked(c, in.KeyId)
	if err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	rot := k.Rotation
	if isReplica(k, m) {
		if p := s.keys[keyIndex(m.PrimaryRegion, k.ID)]; p != nil {
			rot = p.Rotation
		}
	}
	s.mu.RUnlock()
	if k.Spec != SpecSymmetric {
		return nil, kmsErr("UnsupportedOperationException", "%s is a %s key. Key rotation is supported only on symmetric encryption KMS keys.", k.arn(), k.Spec)
	}
	out := &GetKeyRotationStatusOutput{KeyId: k.ID}
	pending := k.State == StatePendingDeletion || k.State == StatePendingReplicaDeletion
	if rot.Enabled && !pending && (k.Origin == OriginKMS || k.Origin == OriginCloudHSM) {
		out.KeyRotationEnabled = true
		out.RotationPeriodInDays = rot.PeriodDays
		out.NextRotationDate = epochPtr(rot.Next)
	}
	return out, nil
}

// RotateKeyOnDemandOutput is RotateKeyOnDemand's response.
type RotateKeyOnDemandOutput struct {
	KeyId string `json:"KeyId"`
}

// RotateKeyOnDemand rotates a symmetric encryption key now: new key material is made in
// the HSM and becomes current; older versions keep decrypting. At most 25 per key. The
// automatic rotation schedule does not change.
func (s *Service) RotateKeyOnDemand(ctx context.Context, c Caller, in KeyIDInput) (*RotateKeyOnDemandOutput, error) {
	if k, _, err := s.resolve(c, in.KeyId); err != nil {
		return nil, err
	} else if k.Origin == OriginExternal {
		return s.rotateImported(ctx, c, in.KeyId)
	}
	k, err := s.rotate(ctx, c, in.KeyId, rotationOnDemand, func(k *keyRec, m *material) error {
		if err := s.requireRotatable(k, m); err != nil {
			return err
		}
		if err := s.materialAvailable(k, m); err != nil {
			return err // new material would make a key whose older material is gone look whole
		}
		return checkOnDemandQuota(m)
	})
	if err != nil {
		return nil, err
	}
	return &RotateKeyOnDemandOutput{KeyId: k.ID}, nil
}

// checkOnDemandQuota refuses an on-demand rotation of a key that has had
// maxOnDemandRotations of them.
func checkOnDemandQuota(m *material) error {
	n := 0
	for _, r := range m.Rotations {
		if r.Type == rotationOnDemand {
			n++
		}
	}
	if n >= maxOnDemandRotations {
		return kmsErr("LimitExceededException", "You have exceeded the maximum number of on-demand rotations for this key")
	}
	return nil
}

// rotateImported rotates a single-Region symmetric key with imported key material on
// demand, as AWS KMS does: the key material imported with NEW_KEY_MATERIAL (in
// PENDING_ROTATION) becomes current; the previous material stays for Decrypt. No HSM work:
// the material is already there. Quota as for other keys (25 on-demand rotations).
func (s *Service) rotateImported(ctx context.Context, c Caller, keyID string) (*RotateKeyOnDemandOutput, error) {
	k, err := s.update(ctx, c, keyID, func(k *keyRec, m *material) error {
		if err := s.requireUsable(k); err != nil {
			return err
		}
		switch {
		case k.Spec != SpecSymmetric:
			return kmsErr("UnsupportedOperationException", "%s is a %s key. Key rotation is supported only on symmetric encryption KMS keys.", k.arn(), k.Spec)
		case k.MultiRegion:
			return kmsErr("UnsupportedOperationException", "%s is a multi-Region key with imported key material. Coffer does not support on-demand rotation of multi-Region keys with imported key material.", k.arn())
		}
		if err := checkOnDemandQuota(m); err != nil {
			return err
		}
		p := pendingVersion(m)
		if p < 0 {
			return invalidState("%s has no key material in PENDING_ROTATION state. Import new key material with ImportType NEW_KEY_MATERIAL before rotating a key with imported key material.", k.arn())
		}
		if err := s.versionAvailable(k, &m.Versions[p]); err != nil {
			return err
		}
		adoptKeyExpiry(k, m)
		m.Versions[p].Pending = false
		m.Current = p
		m.Rotations = append(m.Rotations, rotationRec{Date: s.now(), Type: rotationOnDemand, MaterialID: m.Versions[p].ID})
		settleImportState(k, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &RotateKeyOnDemandOutput{KeyId: k.ID}, nil
}

// rotate makes a new version of a key's material in the HSM and commits it as current with
// the key (one putKeyCmd, through update). check runs before the HSM work and again on
// every attempt of the commit, on the latest records; errNoChange from it abandons the
// rotation. The new version's HSM objects are destroyed when the commit certainly did not
// happen.
func (s *Service) rotate(ctx context.Context, c Caller, keyID, typ string, check func(k *keyRec, m *material) error) (*keyRec, error) {
	k, m, err := s.resolve(c, keyID)
	if err != nil {
		return nil, err
	}
	if err := check(k, m); err != nil {
		if errors.Is(err, errNoChange) {
			return k, nil
		}
		return nil, err
	}
	v, err := s.newVersion(ctx, k)
	if err != nil {
		return nil, s.hsmErr(k, err)
	}
	used := false
	nk, err := s.update(ctx, c, k.arn(), func(k *keyRec, m *material) error {
		used = false
		if err := check(k, m); err != nil {
			return err
		}
		now := s.now()
		m.Versions = append(m.Versions, v)
		m.Current = len(m.Versions) - 1
		m.Rotations = append(m.Rotations, rotationRec{Date: now, Type: typ, MaterialID: v.ID})
		if typ == rotationAutomatic {
			period := k.Rotation.PeriodDays
			if period == 0 {
				period = defaultRotationPeriodDays
			}
			k.Rotation.Next = now.Add(time.Duration(period) * day)
		}
		used = true
		return nil
	})
	if err != nil || !used {
		s.discardVersion(ctx, k, v, err)
	}
	return nk, err
}

// discardVersion destroys the HSM objects of a version whose commit failed. When the
// outcome of the commit is unknown (the proposal timed out, the leader changed...) and the
// version is not in the local state, the objects are left in the HSM and logged: destroying
// material that may have become current would make new ciphertexts undecryptable, while a
// leaked object only costs space.
func (s *Service) discardVersion(ctx context.Context, k *keyRec, v version, commitErr error) {
	var ke *Error
	definite := commitErr == nil || errors.As(commitErr, &ke) || errors.Is(commitErr, errConflict)
	if !definite {
		s.mu.RLock()
		m := s.materials[k.ID]
		committed := m != nil && slices.ContainsFunc(m.Versions, func(x version) bool { return x.ID == v.ID })
		s.mu.RUnlock()
		if !committed {
			s.cfg.Logger.Warn("kms rotation: commit outcome unknown; keeping the new version's HSM objects",
				"key", k.arn(), "material_id", v.ID, "handles", v.Handles, "err", commitErr)
		}
		return
	}
	if err := s.destroyVersions(context.WithoutCancel(ctx), k, []version{v}); err != nil {
		s.cfg.Logger.Warn("kms rotation: destroying an uncommitted version", "key", k.arn(), "handles", v.Handles, "err", err)
	}
}

// ListKeyRotationsInput is ListKeyRotations's request.
type ListKeyRotationsInput struct {
	KeyId              string `json:"KeyId"`
	IncludeKeyMaterial string `json:"IncludeKeyMaterial"`
	Limit              *int   `json:"Limit"`
	Marker             string `json:"Marker"`
}

// RotationsListEntry is one key material in ListKeyRotations.
type RotationsListEntry struct {
	KeyId                  string `json:"KeyId"`
	KeyMaterialId          string `json:"KeyMaterialId,omitempty"`
	KeyMaterialDescription string `json:"KeyMaterialDescription,omitempty"`
	ImportState            string `json:"ImportState,omitempty"`
	KeyMaterialState       string `json:"KeyMaterialState,omitempty"`
	ExpirationModel        string `json:"ExpirationModel,omitempty"`
	ValidTo                *Epoch `json:"ValidTo,omitempty"`
	RotationDate           *Epoch `json:"RotationDate,omitempty"`
	RotationType           string `json:"RotationType,omitempty"`
}

// ListKeyRotationsOutput is ListKeyRotations's response.
type ListKeyRotationsOutput struct {
	Rotations  []RotationsListEntry `json:"Rotations"`
	NextMarker string               `json:"NextMarker,omitempty"`
	Truncated  bool                 `json:"Truncated"`
}

// ListKeyRotations lists the completed rotations of a symmetric encryption key, oldest
// first (ROTATIONS_ONLY, the default), or all its key materials (ALL_KEY_MATERIAL: also
// the original material and, for imported key material, the one PENDING_ROTATION). The marker is the KeyMaterialId of the last entry returned.
func (s *Service) ListKeyRotations(ctx context.Context, c Caller, in ListKeyRotationsInput) (*ListKeyRotationsOutput, error) {
	n, err := limit(in.Limit, 100, 1000)
	if err != nil {
		return nil, err
	}
	include := in.IncludeKeyMaterial
	switch include {
	case "":
		include = "ROTATIONS_ONLY"
	case "ROTATIONS_ONLY", "ALL_KEY_MATERIAL":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'includeKeyMaterial' failed to satisfy constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]", include)
	}
	if len(in.Marker) > 1024 {
		return nil, validation("1 validation error detected: Value at 'marker' failed to satisfy constraint: Member must have length less than or equal to 1024")
	}
	k, m, err := s.resolve(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	if k.Spec != SpecSymmetric {
		return nil, kmsErr("UnsupportedOperationException", "%s is a %s key. Key rotation is supported only on symmetric encryption KMS keys.", k.arn(), k.Spec)
	}
	if k.Origin != OriginKMS && k.Origin != OriginExternal && k.Origin != OriginCloudHSM {
		return nil, kmsErr("UnsupportedOperationException", "%s is in a custom key store. Key rotation is not supported for KMS keys in a custom key store.", k.arn())
	}
	rots := map[string]rotationRec{}
	for _, r := range m.Rotations {
		rots[r.MaterialID] = r
	}
	var all []RotationsListEntry
	for i, v := range m.Versions {
		r, rotated := rots[v.ID]
		if !rotated && include == "ROTATIONS_ONLY" {
			continue
		}
		e := RotationsListEntry{KeyId: k.ID, KeyMaterialId: v.ID, KeyMaterialState: "NON_CURRENT"}
		switch {
		case v.Pending:
			e.KeyMaterialState = "PENDING_ROTATION"
		case i == m.Current:
			e.KeyMaterialState = "CURRENT"
		}
		if rotated {
			e.RotationDate, e.RotationType = epochPtr(r.Date), r.Type
		}
		if k.Origin == OriginExternal {
			e.ImportState = "IMPORTED"
			if len(v.Handles) == 0 {
				e.ImportState = "PENDING_IMPORT"
			}
			e.KeyMaterialDescription = v.Description
			if model, validTo := versionExpiry(k, m, i); model != "" && len(v.Handles) > 0 {
				e.ExpirationModel = model
				if model == expiresModel {
					e.ValidTo = epochPtr(validTo)
				}
			}
		}
		all = append(all, e)
	}
	start := 0
	if in.Marker != "" {
		i := slices.IndexFunc(all, func(e RotationsListEntry) bool { return e.KeyMaterialId == in.Marker })
		if i < 0 {
			return nil, kmsErr("InvalidMarkerException", "Invalid marker: %s", in.Marker)
		}
		start = i + 1
	}
	out := &ListKeyRotationsOutput{Rotations: []RotationsListEntry{}}
	end := min(start+n, len(all))
	out.Rotations = append(out.Rotations, all[start:end]...)
	if end < len(all) {
		out.NextMarker, out.Truncated = all[end-1].KeyMaterialId, true
	}
	return out, nil
}

// tickRotations rotates (AUTOMATIC) every key whose automatic rotation is due. Only
// Enabled keys rotate: a disabled key keeps its past date and rotates once enabled again;
// keys pending deletion do not rotate. Multi-Region keys rotate through their primary
// region's record; replicas share the material and see the new version at once.
func (s *Service) tickRotations(ctx context.Context) error {
	now := s.now()
	type ref struct{ region, account, id string }
	var due []ref
	s.mu.RLock()
	for _, k := range s.keys {
		if !k.Rotation.Enabled || k.Rotation.Next.IsZero() || k.Rotation.Next.After(now) || k.State != StateEnabled {
			continue
		}
		m := s.materials[k.ID]
		if m == nil || requireRotatableType(k, m) != nil || s.keyState(k) != StateEnabled {
			continue // a key of a custom key store that is not connected rotates once it is
		}
		if s.materialAvailable(k, m) != nil {
			continue // material of another HSM domain: the key rotates once it is restored
		}
		due = append(due, ref{k.Region, k.Account, k.ID})
	}
	s.mu.RUnlock()
	var errs []error
	for _, r := range due {
		c := Caller{Region: r.region, Account: r.account}
		_, err := s.rotate(ctx, c, r.id, rotationAutomatic, func(k *keyRec, m *material) error {
			// Another node's scheduler, or a change of the key, may have come first.
			if !k.Rotation.Enabled || k.Rotation.Next.IsZero() || k.Rotation.Next.After(s.now()) || k.State != StateEnabled {
				return errNoChange
			}
			if requireRotatableType(k, m) != nil || s.keyState(k) != StateEnabled || s.materialAvailable(k, m) != nil {
				return errNoChange
			}
			return nil
		})
		if err != nil {
			var ke *Error
			if errors.As(err, &ke) && ke.Code == "NotFoundException" {
				continue // deleted meanwhile
			}
			errs = append(errs, fmt.Errorf("kms: automatic rotation of %s: %w", keyARN(r.region, r.account, r.id), err))
		}
	}
	return errors.Join(errs...)
}

// ---- deletion ----

// ScheduleKeyDeletionInput is ScheduleKeyDeletion's request.
type ScheduleKeyDeletionInput struct {
	KeyId               string `json:"KeyId"`
	PendingWindowInDays *int   `json:"PendingWindowInDays"`
}

// ScheduleKeyDeletionOutput is ScheduleKeyDeletion's response.
type ScheduleKeyDeletionOutput struct {
	KeyId               string `json:"KeyId"`
	DeletionDate        *Epoch `json:"DeletionDate,omitempty"`
	KeyState            string `json:"KeyState"`
	PendingWindowInDays int    `json:"PendingWindowInDays"`
}

// ScheduleKeyDeletion puts a key in PendingDeletion for 7 to 30 days (default 30); the
// scheduler then deletes it and destroys its key material. A Multi-Region primary key
// with replicas goes to PendingReplicaDeletion, as in AWS: unusable, without a deletion
// date, until its last replica is deleted; then its waiting period begins
// (tickDeletions, startPrimaryDeletion).
func (s *Service) ScheduleKeyDeletion(ctx context.Context, c Caller, in ScheduleKeyDeletionInput) (*ScheduleKeyDeletionOutput, error) {
	days := defaultPendingWindowDays
	if in.PendingWindowInDays != nil {
		days = *in.PendingWindowInDays
		if days < minPendingWindowDays {
			return nil, validation("1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to %d", days, minPendingWindowDays)
		}
		if days > maxPendingWindowDays {
			return nil, validation("1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to %d", days, maxPendingWindowDays)
		}
	}
	k, err := s.update(ctx, c, in.KeyId, func(k *keyRec, m *material) error {
		switch k.State {
		case StateEnabled, StateDisabled, StatePendingImport, StateUnavailable:
		case StatePendingDeletion, StatePendingReplicaDeletion:
			return invalidState("%s is pending deletion.", k.arn())
		default:
			return invalidState("%s is %s.", k.arn(), k.State)
		}
		if k.MultiRegion && m.PrimaryRegion == k.Region && len(m.Replicas) > 0 {
			k.State = StatePendingReplicaDeletion
			k.DeletionDate = time.Time{}
			k.PendingWindow = days
			return nil
		}
		k.State = StatePendingDeletion
		k.DeletionDate = s.now().Add(time.Duration(days) * day)
		k.PendingWindow = days
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ScheduleKeyDeletionOutput{KeyId: k.arn(), DeletionDate: epochPtr(k.DeletionDate), KeyState: k.State, PendingWindowInDays: k.PendingWindow}, nil
}

// CancelKeyDeletionOutput is CancelKeyDeletion's response.
type CancelKeyDeletionOutput struct {
	KeyId string `json:"KeyId"`
}

// CancelKeyDeletion cancels a scheduled deletion: the key becomes Disabled (PendingImport
// for a key with imported material that has none). Once the waiting period has ended the
// deletion is under way and cannot be canceled.
func (s *Service) CancelKeyDeletion(ctx context.Context, c Caller, in KeyIDInput) (*CancelKeyDeletionOutput, error) {
	k, err := s.update(ctx, c, in.KeyId, func(k *keyRec, m *material) error {
		if k.State != StatePendingDeletion && k.State != StatePendingReplicaDeletion {
			return invalidState("%s is not pending deletion.", k.arn())
		}
		if k.State == StatePendingDeletion && !k.DeletionDate.IsZero() && !k.DeletionDate.After(s.now()) {
			return invalidState("%s: the waiting period ended; the key is being deleted.", k.arn())
		}
		k.State = StateDisabled
		if k.Origin == OriginExternal {
			k.State = StatePendingImport
			settleImportState(k, m) // Disabled once all its permanent material is imported
			if k.State == StateEnabled {
				k.State = StateDisabled
			}
		}
		k.DeletionDate = time.Time{}
		k.PendingWindow = 0
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &CancelKeyDeletionOutput{KeyId: k.arn()}, nil
}

// tickDeletions deletes the keys whose waiting period has ended. The last region of a key
// takes its material with it: the HSM key objects of every version are destroyed first
// (idempotently, so a failure is retried at the next tick), then the key and material
// records are removed. A Multi-Region replica only removes its own record and leaves the
// primary's replica list. A primary in PendingReplicaDeletion whose replicas are all gone
// moves to PendingDeletion and starts its waiting period.
func (s *Service) tickDeletions(ctx context.Context) error {
	now := s.now()
	type ref struct{ region, account, id, state string }
	var due []ref
	s.mu.RLock()
	for _, k := range s.keys {
		switch {
		case k.State == StatePendingDeletion && !k.DeletionDate.IsZero() && !k.DeletionDate.After(now):
		case k.State == StatePendingReplicaDeletion:
		default:
			continue
		}
		due = append(due, ref{k.Region, k.Account, k.ID, k.State})
	}
	s.mu.RUnlock()
	var errs []error
	for _, r := range due {
		var err error
		if r.state == StatePendingReplicaDeletion {
			err = s.startPrimaryDeletion(ctx, r.region, r.account, r.id)
		} else {
			err = s.deleteKeyNow(ctx, r.region, r.account, r.id)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("kms: deleting %s: %w", keyARN(r.region, r.account, r.id), err))
		}
	}
	return errors.Join(errs...)
}

// otherRegions returns the regions other than k's that hold a record of key k.ID.
func (s *Service) otherRegionsLocked(k *keyRec) []string {
	var rs []string
	for _, o := range s.keys {
		if o.ID == k.ID && o.Region != k.Region {
			rs = append(rs, o.Region)
		}
	}
	slices.Sort(rs)
	return rs
}

func (s *Service) startPrimaryDeletion(ctx context.Context, region, account, id string) error {
	s.mu.RLock()
	k := s.keys[keyIndex(region, id)]
	waiting := k != nil && len(s.otherRegionsLocked(k)) > 0
	s.mu.RUnlock()
	if k == nil || waiting {
		return nil
	}
	_, err := s.update(ctx, Caller{Region: region, Account: account}, id, func(k *keyRec, m *material) error {
		if k.State != StatePendingReplicaDeletion {
			return errNoChange
		}
		days := k.PendingWindow
		if days == 0 {
			days = defaultPendingWindowDays
		}
		k.State = StatePendingDeletion
		k.DeletionDate = s.now().Add(time.Duration(days) * day)
		k.PendingWindow = days
		return nil
	})
	return err
}

// deleteKeyNow deletes one region's record of a key whose waiting period has ended.
func (s *Service) deleteKeyNow(ctx context.Context, region, account, id string) error {
	for attempt := 0; attempt < 10; attempt++ {
		s.mu.RLock()
		k := s.keys[keyIndex(region, id)]
		var m *material
		var others []string
		if k != nil {
			m = s.materials[id]
			others = s.otherRegionsLocked(k)
		}
		s.mu.RUnlock()
		if k == nil {
			return nil // already deleted (another node's scheduler)
		}
		if k.State != StatePendingDeletion || k.DeletionDate.IsZero() || k.DeletionDate.After(s.now()) {
			return nil // canceled or rescheduled meanwhile
		}
		if len(others) == 0 {
			// The last region: destroy the key material, then forget the key.
			if m != nil {
				if err := s.destroyKeyMaterial(ctx, k, m.Versions); err != nil {
					return err
				}
			}
			err := s.propose(ctx, cmdDeleteKey, deleteKeyCmd{Region: region, ID: id, Expect: k.Revision, DeleteMaterial: true})
			if errors.Is(err, errConflict) {
				continue
			}
			if err != nil {
				return err
			}
		} else {
			if m != nil && m.PrimaryRegion == region {
				s.cfg.Logger.Warn("kms scheduler: not deleting a Multi-Region primary key that has replicas",
					"key", k.arn(), "replicas", others)
				return nil
			}
			// A replica: leave the primary's replica list, then drop this region's record.
			if m != nil && slices.Contains(m.Replicas, region) {
				nm := m.clone()
				nm.Replicas = slices.DeleteFunc(nm.Replicas, func(r string) bool { return r == region })
				err := s.propose(ctx, cmdPutMaterial, putMaterialCmd{Material: nm, Expect: m.Revision})
				if errors.Is(err, errConflict) {
					continue
				}
				if err != nil {
					return err
				}
			}
			err := s.propose(ctx, cmdDeleteKey, deleteKeyCmd{Region: region, ID: id, Expect: k.Revision})
			if errors.Is(err, errConflict) {
				continue
			}
			if err != nil {
				return err
			}
		}
		s.usage.mu.Lock()
		delete(s.usage.m, keyIndex(region, id))
		s.usage.mu.Unlock()
		s.cfg.Logger.Info("kms: key deleted", "key", k.arn(), "material_destroyed", len(others) == 0)
		return nil
	}
	return kmsErr("KMSInternalException", "too many concurrent updates of key %s; retrying at the next tick", id)
}

// destroyKeyMaterial destroys the material of a key being deleted. The material of a key
// in an AWS CloudHSM key store belongs to kmsuser: KMS deletes it when the store is
// connected and otherwise, as AWS does, makes a best effort: it logs the orphaned key
// handles (to delete in the cluster as kmsuser) and deletes the key anyway.
func (s *Service) destroyKeyMaterial(ctx context.Context, k *keyRec, vs []version) error {
	if k.CustomKeyStoreID == "" {
		return s.destroyMaterial(ctx, vs)
	}
	var errs []error
	err := s.withKeySession(ctx, k, func(sess *hsm.Session) error {
		for _, h := range s.liveHandles(vs) {
			err := s.cfg.HSM.DeleteKey(ctx, sess, h, nil)
			var nf *hsm.NotFoundError
			if err != nil && !errors.As(err, &nf) {
				errs = append(errs, fmt.Errorf("HSM key %s: %w", hsm.FormatKeyRef(h), err))
			}
		}
		return nil
	})
	if err == nil {
		err = errors.Join(errs...)
	}
	if err != nil {
		var handles []string
		for _, v := range vs {
			for _, h := range v.Handles {
				handles = append(handles, hsm.FormatKeyRef(h))
			}
		}
		s.cfg.Logger.Warn("kms: the key material of a deleted key in a custom key store could not be deleted from its cluster; delete it as kmsuser",
			"key", k.arn(), "custom_key_store", k.CustomKeyStoreID, "owner", KMSUser, "handles", handles, "err", err)
	}
	return nil
}

// destroyMaterial deletes the HSM key objects of versions. Objects already gone count as
// deleted, so an interrupted deletion can simply be run again. Objects made under another
// domain key went with that domain: their handles are left alone (liveHandles).
func (s *Service) destroyMaterial(ctx context.Context, vs []version) error {
	sess, err := s.session(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range s.liveHandles(vs) {
		err := s.cfg.HSM.DeleteKey(ctx, sess, h, nil)
		var nf *hsm.NotFoundError
		if err != nil && !errors.As(err, &nf) {
			errs = append(errs, fmt.Errorf("HSM key %s: %w", hsm.FormatKeyRef(h), err))
		}
	}
	return errors.Join(errs...)
}

// ---- GetKeyLastUsage ----

// trackingStart is when this process began recording key usage (s.usage is node-local
// and in memory: tracking restarts with the process, and each node reports the uses it
// served). It is set when the package is initialized, before any use can be recorded.
var trackingStart = time.Now().UTC()

// KeyLastUsageData is the last successful cryptographic operation of a key.
type KeyLastUsageData struct {
	Operation         string `json:"Operation,omitempty"`
	Timestamp         *Epoch `json:"Timestamp,omitempty"`
	CloudTrailEventId string `json:"CloudTrailEventId,omitempty"`
	KmsRequestId      string `json:"KmsRequestId,omitempty"`
}

// GetKeyLastUsageOutput is GetKeyLastUsage's response.
type GetKeyLastUsageOutput struct {
	KeyId             string            `json:"KeyId"`
	KeyLastUsage      *KeyLastUsageData `json:"KeyLastUsage"`
	TrackingStartDate *Epoch            `json:"TrackingStartDate,omitempty"`
	KeyCreationDate   *Epoch            `json:"KeyCreationDate,omitempty"`
}

// GetKeyLastUsage reports the last cryptographic operation this node served with the key
// (an empty KeyLastUsage when none since TrackingStartDate). Each region's record of a
// Multi-Region key tracks its own use. Coffer has no CloudTrail: CloudTrailEventId and
// KmsRequestId are omitted.
func (s *Service) GetKeyLastUsage(ctx context.Context, c Caller, in KeyIDInput) (*GetKeyLastUsageOutput, error) {
	k, _, err := s.resolve(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	start := trackingStart
	if k.Created.After(start) {
		start = k.Created
	}
	out := &GetKeyLastUsageOutput{KeyId: k.arn(), KeyLastUsage: &KeyLastUsageData{},
		TrackingStartDate: epochPtr(start), KeyCreationDate: epochPtr(k.Created)}
	s.usage.mu.Lock()
	u, ok := s.usage.m[keyIndex(k.Region, k.ID)]
	s.usage.mu.Unlock()
	if ok {
		out.KeyLastUsage.Operation = u.Operation
		out.KeyLastUsage.Timestamp = epochPtr(u.Time)
	}
	return out, nil
}
