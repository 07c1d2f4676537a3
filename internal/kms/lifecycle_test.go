package kms

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

func lcInt(n int) *int { return &n }

func (e *testEnv) lcEncrypt(keyID string, pt string) []byte {
	e.t.Helper()
	out, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: keyID, Plaintext: []byte(pt)})
	if err != nil {
		e.t.Fatalf("Encrypt: %v", err)
	}
	return out.CiphertextBlob
}

func (e *testEnv) lcRotationStatus(c Caller, keyID string) *GetKeyRotationStatusOutput {
	e.t.Helper()
	st, err := e.k.GetKeyRotationStatus(e.ctx, c, KeyIDInput{KeyId: keyID})
	if err != nil {
		e.t.Fatalf("GetKeyRotationStatus: %v", err)
	}
	return st
}

func (e *testEnv) lcTick() {
	e.t.Helper()
	if err := e.k.Tick(e.ctx); err != nil {
		e.t.Fatalf("Tick: %v", err)
	}
}

func lcBlobVersion(t *testing.T, blob []byte) uint32 {
	t.Helper()
	bh, err := parseBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	return bh.version
}

func (e *testEnv) lcMaterial(id string) *material {
	e.k.mu.RLock()
	defer e.k.mu.RUnlock()
	m := e.k.materials[id]
	if m == nil {
		return nil
	}
	return m.clone()
}

func TestLifecycleOpsRegistered(t *testing.T) {
	ops := Operations()
	for _, name := range []string{"EnableKeyRotation", "DisableKeyRotation", "GetKeyRotationStatus", "RotateKeyOnDemand",
		"ListKeyRotations", "ScheduleKeyDeletion", "CancelKeyDeletion", "GetKeyLastUsage"} {
		if ops[name] == nil {
			t.Errorf("%s is not registered", name)
		}
	}
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{})
	_, err := ops["EnableKeyRotation"](e.k, e.ctx, e.c, []byte(`{"KeyId":"`+md.KeyId+`","RotationPeriodInDays":89}`))
	wantCode(t, err, "ValidationException")
	_, err = ops["ScheduleKeyDeletion"](e.k, e.ctx, e.c, []byte(`{"KeyId":"`+md.KeyId+`","PendingWindowInDays":"7"}`))
	wantCode(t, err, "SerializationException")
	out, err := ops["ScheduleKeyDeletion"](e.k, e.ctx, e.c, []byte(`{"KeyId":"`+md.KeyId+`","PendingWindowInDays":7}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	var got map[string]any
	json.Unmarshal(b, &got)
	if got["KeyId"] != md.Arn || got["KeyState"] != "PendingDeletion" || got["PendingWindowInDays"] != float64(7) {
		t.Fatalf("%s", b)
	}
	if d, ok := got["DeletionDate"].(float64); !ok || int64(d) != e.clock.Now().Add(7*24*time.Hour).Unix() {
		t.Fatalf("DeletionDate: %s", b)
	}
}

func TestKeyRotationSettings(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{})
	st := e.lcRotationStatus(e.c, md.KeyId)
	if st.KeyRotationEnabled || st.RotationPeriodInDays != 0 || st.NextRotationDate != nil || st.KeyId != md.KeyId {
		t.Fatalf("%+v", st)
	}
	b, _ := json.Marshal(st)
	if string(b) != `{"KeyRotationEnabled":false,"KeyId":"`+md.KeyId+`"}` {
		t.Fatalf("%s", b)
	}
	for _, p := range []int{89, 2561, 0, -1} {
		err := e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: lcInt(p)})
		wantCode(t, err, "ValidationException")
	}
	if err := e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.Arn}); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	st = e.lcRotationStatus(e.c, md.KeyId)
	if !st.KeyRotationEnabled || st.RotationPeriodInDays != 365 || st.NextRotationDate == nil ||
		!time.Time(*st.NextRotationDate).Equal(now.Add(365*24*time.Hour)) || st.OnDemandRotationStartDate != nil {
		t.Fatalf("%+v", st)
	}
	b, _ = json.Marshal(st)
	for _, f := range []string{`"KeyRotationEnabled":true`, `"RotationPeriodInDays":365`, `"NextRotationDate":`} {
		if !strings.Contains(string(b), f) {
			t.Fatalf("%s lacks %s", b, f)
		}
	}
	// The bounds are valid; changing the period moves the schedule by the difference.
	if err := e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: lcInt(90)}); err != nil {
		t.Fatal(err)
	}
	st = e.lcRotationStatus(e.c, md.KeyId)
	if st.RotationPeriodInDays != 90 || !time.Time(*st.NextRotationDate).Equal(now.Add(90*24*time.Hour)) {
		t.Fatalf("%+v", st)
	}
	if err := e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: lcInt(2560)}); err != nil {
		t.Fatal(err)
	}
	if st = e.lcRotationStatus(e.c, md.KeyId); st.RotationPeriodInDays != 2560 {
		t.Fatalf("%+v", st)
	}
	if err := e.k.DisableKeyRotation(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if st = e.lcRotationStatus(e.c, md.KeyId); st.KeyRotationEnabled || st.NextRotationDate != nil || st.RotationPeriodInDays != 0 {
		t.Fatalf("%+v", st)
	}
	if err := e.k.DisableKeyRotation(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err) // idempotent
	}

	// Key types.
	rsa := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt})
	hmac := e.createKey(CreateKeyInput{KeySpec: SpecHMAC256, KeyUsage: UsageMAC})
	for _, id := range []string{rsa.KeyId, hmac.KeyId} {
		wantCode(t, e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: id}), "UnsupportedOperationException")
		wantCode(t, e.k.DisableKeyRotation(e.ctx, e.c, KeyIDInput{KeyId: id}), "UnsupportedOperationException")
		_, err := e.k.GetKeyRotationStatus(e.ctx, e.c, KeyIDInput{KeyId: id})
		wantCode(t, err, "UnsupportedOperationException")
		_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: id})
		wantCode(t, err, "UnsupportedOperationException")
		_, err = e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: id})
		wantCode(t, err, "UnsupportedOperationException")
	}
	// Imported material: PendingImport is a state error; with material it is unsupported.
	ext := e.createKey(CreateKeyInput{Origin: OriginExternal})
	wantCode(t, e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: ext.KeyId}), "KMSInvalidStateException")
	_, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: ext.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	if st := e.lcRotationStatus(e.c, ext.KeyId); st.KeyRotationEnabled {
		t.Fatalf("%+v", st)
	}
	e.k.mu.RLock()
	extRec := e.k.keys[keyIndex(e.c.Region, ext.KeyId)].clone()
	e.k.mu.RUnlock()
	extRec.State = StateEnabled
	if err := e.k.propose(e.ctx, cmdPutKey, putKeyCmd{Key: extRec, Expect: extRec.Revision}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: ext.KeyId}), "UnsupportedOperationException")

	// Key states.
	if err := e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if err := e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId}), "DisabledException")
	wantCode(t, e.k.DisableKeyRotation(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}), "DisabledException")
	_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "DisabledException")
	if st := e.lcRotationStatus(e.c, md.KeyId); !st.KeyRotationEnabled {
		t.Fatalf("disabling the key does not change the rotation status: %+v", st)
	}
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId}), "KMSInvalidStateException")
	wantCode(t, e.k.DisableKeyRotation(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}), "KMSInvalidStateException")
	_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	if st := e.lcRotationStatus(e.c, md.KeyId); st.KeyRotationEnabled || st.NextRotationDate != nil {
		t.Fatalf("pending deletion reports false: %+v", st)
	}
	if _, err := e.k.CancelKeyDeletion(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if st := e.lcRotationStatus(e.c, md.KeyId); !st.KeyRotationEnabled || st.RotationPeriodInDays != 365 {
		t.Fatalf("the setting returns after a canceled deletion: %+v", st)
	}
	_, err = e.k.GetKeyRotationStatus(e.ctx, e.c, KeyIDInput{KeyId: "alias/none"})
	wantCode(t, err, "NotFoundException")
	wantCode(t, e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{}), "ValidationException")
}

func TestSchedulerRotatesDueKey(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{})
	other := e.createKey(CreateKeyInput{})
	ct1 := e.lcEncrypt(md.KeyId, "before")
	v1 := md.CurrentKeyMaterialId
	if lcBlobVersion(t, ct1) != 1 {
		t.Fatal("first version")
	}
	if err := e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: lcInt(90)}); err != nil {
		t.Fatal(err)
	}
	hsmKeys := e.h.Status().Keys

	// Not due yet.
	e.clock.Add(89 * 24 * time.Hour)
	e.lcTick()
	if l, _ := e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId}); len(l.Rotations) != 0 {
		t.Fatalf("rotated early: %+v", l)
	}
	// Due.
	e.clock.Add(2 * 24 * time.Hour)
	e.lcTick()
	l, err := e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId})
	if err != nil || len(l.Rotations) != 1 || l.Truncated {
		t.Fatalf("%v %+v", err, l)
	}
	r := l.Rotations[0]
	if r.RotationType != "AUTOMATIC" || r.KeyId != md.KeyId || r.KeyMaterialState != "CURRENT" || len(r.KeyMaterialId) != 64 ||
		r.KeyMaterialId == v1 || r.RotationDate == nil || !time.Time(*r.RotationDate).Equal(e.clock.Now()) {
		t.Fatalf("%+v", r)
	}
	if got := e.h.Status().Keys; got != hsmKeys+1 {
		t.Fatalf("HSM keys %d, want %d", got, hsmKeys+1)
	}
	d, _ := e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	if d.KeyMetadata.CurrentKeyMaterialId != r.KeyMaterialId {
		t.Fatalf("current %s, want %s", d.KeyMetadata.CurrentKeyMaterialId, r.KeyMaterialId)
	}
	st := e.lcRotationStatus(e.c, md.KeyId)
	if !time.Time(*st.NextRotationDate).Equal(e.clock.Now().Add(90 * 24 * time.Hour)) {
		t.Fatalf("next %v", time.Time(*st.NextRotationDate))
	}
	// The old ciphertext still decrypts with the old material; new ciphertexts use the new one.
	dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: ct1})
	if err != nil || string(dec.Plaintext) != "before" || dec.KeyMaterialId != v1 {
		t.Fatalf("%v %+v", err, dec)
	}
	ct2 := e.lcEncrypt(md.KeyId, "after")
	if lcBlobVersion(t, ct2) != 2 {
		t.Fatalf("new ciphertext version %d", lcBlobVersion(t, ct2))
	}
	dec, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: ct2})
	if err != nil || string(dec.Plaintext) != "after" || dec.KeyMaterialId != r.KeyMaterialId {
		t.Fatalf("%v %+v", err, dec)
	}
	// A key without rotation is untouched; a second tick does nothing.
	e.lcTick()
	if l, _ := e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId}); len(l.Rotations) != 1 {
		t.Fatalf("%+v", l)
	}
	if l, _ := e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: other.KeyId}); len(l.Rotations) != 0 {
		t.Fatalf("%+v", l)
	}
	// A disabled key does not rotate; once enabled again it rotates at the next tick.
	if err := e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(91 * 24 * time.Hour)
	e.lcTick()
	if l, _ := e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId}); len(l.Rotations) != 1 {
		t.Fatalf("a disabled key rotated: %+v", l)
	}
	if err := e.k.EnableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	e.lcTick()
	if l, _ := e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId}); len(l.Rotations) != 2 {
		t.Fatalf("%+v", l)
	}
	for _, ct := range [][]byte{ct1, ct2} {
		if _, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: ct}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRotateKeyOnDemandLimitAndListKeyRotations(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{})
	if err := e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	next := e.lcRotationStatus(e.c, md.KeyId).NextRotationDate
	cts := [][]byte{e.lcEncrypt(md.KeyId, "v1")}
	for i := 0; i < 25; i++ {
		e.clock.Add(time.Minute)
		out, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.Arn})
		if err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		if out.KeyId != md.KeyId {
			t.Fatalf("%+v", out)
		}
		if i == 0 || i == 24 {
			cts = append(cts, e.lcEncrypt(md.KeyId, "later"))
		}
	}
	hsmKeys := e.h.Status().Keys
	_, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "LimitExceededException")
	if !strings.Contains(err.Error(), "You have exceeded the maximum number of on-demand rotations for this key") {
		t.Fatal(err)
	}
	if got := e.h.Status().Keys; got != hsmKeys {
		t.Fatalf("a refused rotation left HSM keys: %d, want %d", got, hsmKeys)
	}
	// On-demand rotations do not move the automatic schedule.
	if st := e.lcRotationStatus(e.c, md.KeyId); !time.Time(*st.NextRotationDate).Equal(time.Time(*next)) {
		t.Fatalf("%+v", st)
	}
	if v := lcBlobVersion(t, cts[2]); v != 26 {
		t.Fatalf("version %d", v)
	}
	for _, ct := range cts {
		if _, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: ct}); err != nil {
			t.Fatal(err)
		}
	}

	// Paging: 25 rotations by 10.
	var all []RotationsListEntry
	marker := ""
	for page := 0; ; page++ {
		l, err := e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId, Limit: lcInt(10), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		want := []int{10, 10, 5}[page]
		if len(l.Rotations) != want || l.Truncated != (page < 2) || (l.NextMarker != "") != l.Truncated {
			t.Fatalf("page %d: %d entries, truncated %v, marker %q", page, len(l.Rotations), l.Truncated, l.NextMarker)
		}
		all = append(all, l.Rotations...)
		if !l.Truncated {
			break
		}
		marker = l.NextMarker
	}
	for i, r := range all {
		if r.RotationType != "ON_DEMAND" || r.RotationDate == nil || r.ImportState != "" {
			t.Fatalf("%d: %+v", i, r)
		}
		if (r.KeyMaterialState == "CURRENT") != (i == 24) {
			t.Fatalf("%d: %+v", i, r)
		}
		if i > 0 && !time.Time(*r.RotationDate).After(time.Time(*all[i-1].RotationDate)) {
			t.Fatal("not oldest first")
		}
	}
	l, err := e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId})
	if err != nil || len(l.Rotations) != 25 || l.Truncated {
		t.Fatalf("%v %d", err, len(l.Rotations))
	}
	l, err = e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL", Limit: lcInt(1000)})
	if err != nil || len(l.Rotations) != 26 || l.Rotations[0].KeyMaterialId != md.CurrentKeyMaterialId ||
		l.Rotations[0].RotationDate != nil || l.Rotations[0].KeyMaterialState != "NON_CURRENT" {
		t.Fatalf("%v %+v", err, l.Rotations[0])
	}
	b, _ := json.Marshal(l.Rotations[1])
	for _, f := range []string{`"KeyId":`, `"KeyMaterialId":`, `"KeyMaterialState":"NON_CURRENT"`, `"RotationDate":`, `"RotationType":"ON_DEMAND"`} {
		if !strings.Contains(string(b), f) {
			t.Fatalf("%s lacks %s", b, f)
		}
	}
	for _, n := range []int{0, 1001} {
		_, err = e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId, Limit: lcInt(n)})
		wantCode(t, err, "ValidationException")
	}
	_, err = e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId, Marker: "nope"})
	wantCode(t, err, "InvalidMarkerException")
	_, err = e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "SOME"})
	wantCode(t, err, "ValidationException")
	// A key never rotated lists nothing, but not null.
	fresh := e.createKey(CreateKeyInput{})
	l, _ = e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: fresh.KeyId})
	if b, _ := json.Marshal(l); string(b) != `{"Rotations":[],"Truncated":false}` {
		t.Fatalf("%s", b)
	}
}

func TestScheduleAndCancelKeyDeletion(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{})
	ct := e.lcEncrypt(md.KeyId, "data")
	for _, d := range []int{6, 31, 0, 365} {
		_, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: lcInt(d)})
		wantCode(t, err, "ValidationException")
	}
	out, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if out.KeyId != md.Arn || out.KeyState != StatePendingDeletion || out.PendingWindowInDays != 30 ||
		!time.Time(*out.DeletionDate).Equal(e.clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("%+v", out)
	}
	d, _ := e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	if d.KeyMetadata.KeyState != StatePendingDeletion || d.KeyMetadata.Enabled || d.KeyMetadata.PendingDeletionWindowInDays != 0 ||
		d.KeyMetadata.DeletionDate == nil {
		t.Fatalf("%+v", d.KeyMetadata)
	}
	_, err = e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: lcInt(7)})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: ct})
	wantCode(t, err, "KMSInvalidStateException")
	wantCode(t, e.k.EnableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}), "KMSInvalidStateException")
	// Usage and rotation status stay readable.
	if _, err := e.k.GetKeyLastUsage(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}

	c, err := e.k.CancelKeyDeletion(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	if err != nil || c.KeyId != md.Arn {
		t.Fatalf("%v %+v", err, c)
	}
	d, _ = e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	if d.KeyMetadata.KeyState != StateDisabled || d.KeyMetadata.DeletionDate != nil || d.KeyMetadata.PendingDeletionWindowInDays != 0 {
		t.Fatalf("%+v", d.KeyMetadata)
	}
	_, err = e.k.CancelKeyDeletion(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	// A disabled key can be scheduled; once enabled again it works.
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: lcInt(30)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.CancelKeyDeletion(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if err := e.k.EnableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: ct}); err != nil {
		t.Fatal(err)
	}
	// A key waiting for imported material goes back to PendingImport.
	ext := e.createKey(CreateKeyInput{Origin: OriginExternal})
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: ext.KeyId, PendingWindowInDays: lcInt(7)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.CancelKeyDeletion(e.ctx, e.c, KeyIDInput{KeyId: ext.KeyId}); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: ext.KeyId}); d.KeyMetadata.KeyState != StatePendingImport {
		t.Fatalf("%+v", d.KeyMetadata)
	}
	_, err = e.k.CancelKeyDeletion(e.ctx, e.c, KeyIDInput{KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab"})
	wantCode(t, err, "NotFoundException")
}

func TestSchedulerDeletesKey(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{})
	keep := e.createKey(CreateKeyInput{})
	ct1 := e.lcEncrypt(md.KeyId, "one")
	if _, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	ct2 := e.lcEncrypt(md.KeyId, "two")
	keepCT := e.lcEncrypt(keep.KeyId, "keep")
	var handles []uint64
	for _, v := range e.lcMaterial(md.KeyId).Versions {
		handles = append(handles, v.Handles...)
	}
	if len(handles) != 2 {
		t.Fatalf("handles %v", handles)
	}
	hsmKeys := e.h.Status().Keys
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: lcInt(7)}); err != nil {
		t.Fatal(err)
	}

	// Not due: nothing is deleted.
	e.clock.Add(7*24*time.Hour - time.Second)
	e.lcTick()
	d, err := e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	if err != nil || d.KeyMetadata.KeyState != StatePendingDeletion {
		t.Fatalf("%v %+v", err, d)
	}
	if got := e.h.Status().Keys; got != hsmKeys {
		t.Fatalf("HSM keys %d, want %d", got, hsmKeys)
	}
	// Due: cancel is too late; the scheduler deletes the key and its material.
	e.clock.Add(2 * time.Second)
	_, err = e.k.CancelKeyDeletion(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	e.lcTick()
	_, err = e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "NotFoundException")
	if e.lcMaterial(md.KeyId) != nil {
		t.Fatal("material record left")
	}
	if got := e.h.Status().Keys; got != hsmKeys-2 {
		t.Fatalf("HSM keys %d, want %d", got, hsmKeys-2)
	}
	sess, err := e.k.session(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range handles {
		_, err := e.h.GetKey(sess, h)
		var nf *hsm.NotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("HSM key %d: %v", h, err)
		}
	}
	for _, ct := range [][]byte{ct1, ct2} {
		_, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: ct})
		var ke *Error
		if !errors.As(err, &ke) || (ke.Code != "InvalidCiphertextException" && ke.Code != "NotFoundException") {
			t.Fatalf("decrypt after deletion: %v", err)
		}
	}
	_, err = e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId})
	wantCode(t, err, "NotFoundException")
	// The other key is untouched; later ticks are no-ops.
	e.lcTick()
	if dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: keepCT}); err != nil || string(dec.Plaintext) != "keep" {
		t.Fatal(err)
	}
	if l, _ := e.k.ListKeys(e.ctx, e.c, ListInput{}); len(l.Keys) != 1 || l.Keys[0].KeyId != keep.KeyId {
		t.Fatalf("%+v", l)
	}
}

// addReplica writes a replica record of a Multi-Region key in region as ReplicateKey would.
func (e *testEnv) lcAddReplica(md KeyMetadata, region string) Caller {
	e.t.Helper()
	e.k.mu.RLock()
	k := e.k.keys[keyIndex(e.c.Region, md.KeyId)].clone()
	m := e.k.materials[md.KeyId].clone()
	e.k.mu.RUnlock()
	k.Region, k.Rotation = region, rotation{}
	m.Replicas = append(m.Replicas, region)
	if err := e.k.propose(e.ctx, cmdPutKey, putKeyCmd{Key: k, Material: m, ExpectMaterial: m.Revision}); err != nil {
		e.t.Fatal(err)
	}
	return Caller{Region: region, Account: e.c.Account, Principal: e.c.Principal}
}

func TestMultiRegionRotationAndDeletion(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{MultiRegion: lcTrue()})
	eu := e.lcAddReplica(md, "eu-west-1")
	hsmKeys := e.h.Status().Keys

	wantCode(t, e.k.EnableKeyRotation(e.ctx, eu, EnableKeyRotationInput{KeyId: md.KeyId}), "UnsupportedOperationException")
	_, err := e.k.RotateKeyOnDemand(e.ctx, eu, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "UnsupportedOperationException")
	// The primary waits for its replicas (PendingReplicaDeletion); cancel and re-enable it.
	sched, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId})
	if err != nil || sched.KeyState != StatePendingReplicaDeletion {
		t.Fatalf("%v %+v", err, sched)
	}
	if _, err := e.k.CancelKeyDeletion(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if err := e.k.EnableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}

	// Rotation on the primary; the replica reports the primary's setting and uses the new version.
	if err := e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: lcInt(90)}); err != nil {
		t.Fatal(err)
	}
	if st := e.lcRotationStatus(eu, md.KeyId); !st.KeyRotationEnabled || st.RotationPeriodInDays != 90 {
		t.Fatalf("%+v", st)
	}
	euOld, err := e.k.Encrypt(e.ctx, eu, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("eu")})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(91 * 24 * time.Hour)
	e.lcTick()
	if got := e.h.Status().Keys; got != hsmKeys+1 {
		t.Fatalf("HSM keys %d, want %d (one rotation through the primary)", got, hsmKeys+1)
	}
	euNew, err := e.k.Encrypt(e.ctx, eu, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("eu2")})
	if err != nil || lcBlobVersion(t, euNew.CiphertextBlob) != 2 {
		t.Fatalf("%v", err)
	}
	if l, _ := e.k.ListKeyRotations(e.ctx, eu, ListKeyRotationsInput{KeyId: md.KeyId}); len(l.Rotations) != 1 {
		t.Fatalf("%+v", l)
	}

	// Deleting the replica keeps the material; then the primary can be deleted.
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, eu, ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: lcInt(7)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(8 * 24 * time.Hour)
	e.lcTick()
	_, err = e.k.DescribeKey(e.ctx, eu, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "NotFoundException")
	if m := e.lcMaterial(md.KeyId); m == nil || len(m.Replicas) != 0 {
		t.Fatalf("%+v", m)
	}
	if got := e.h.Status().Keys; got != hsmKeys+1 {
		t.Fatalf("deleting a replica destroyed material: %d HSM keys", got)
	}
	for _, ct := range [][]byte{euOld.CiphertextBlob, euNew.CiphertextBlob} {
		if _, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: ct}); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); len(d.KeyMetadata.MultiRegionConfiguration.ReplicaKeys) != 0 {
		t.Fatalf("%+v", d.KeyMetadata.MultiRegionConfiguration)
	}
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: lcInt(7)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(8 * 24 * time.Hour)
	e.lcTick()
	if e.lcMaterial(md.KeyId) != nil {
		t.Fatal("material left")
	}
	if got := e.h.Status().Keys; got != hsmKeys-1 {
		t.Fatalf("HSM keys %d, want %d", got, hsmKeys-1)
	}
}

func lcTrue() *bool { b := true; return &b }

func TestGetKeyLastUsage(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{})
	out, err := e.k.GetKeyLastUsage(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Time(*md.CreationDate)
	if out.KeyId != md.Arn || out.KeyLastUsage == nil || out.KeyLastUsage.Operation != "" ||
		!time.Time(*out.KeyCreationDate).Equal(created) || !time.Time(*out.TrackingStartDate).Equal(created) {
		t.Fatalf("%+v", out)
	}
	b, _ := json.Marshal(out)
	if !strings.Contains(string(b), `"KeyLastUsage":{}`) || !strings.Contains(string(b), `"TrackingStartDate":`) || !strings.Contains(string(b), `"KeyCreationDate":`) {
		t.Fatalf("%s", b)
	}
	e.clock.Add(time.Hour)
	ct := e.lcEncrypt(md.KeyId, "x")
	out, _ = e.k.GetKeyLastUsage(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	if out.KeyLastUsage.Operation != "Encrypt" || !time.Time(*out.KeyLastUsage.Timestamp).Equal(e.clock.Now()) {
		t.Fatalf("%+v", out.KeyLastUsage)
	}
	e.clock.Add(time.Hour)
	if _, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: ct}); err != nil {
		t.Fatal(err)
	}
	out, _ = e.k.GetKeyLastUsage(e.ctx, e.c, KeyIDInput{KeyId: md.Arn})
	if out.KeyLastUsage.Operation != "Decrypt" || !time.Time(*out.KeyLastUsage.Timestamp).Equal(e.clock.Now()) {
		t.Fatalf("%+v", out.KeyLastUsage)
	}
	b, _ = json.Marshal(out)
	var got map[string]map[string]any
	json.Unmarshal(b, &got)
	if keys := slices.Sorted(maps.Keys(got["KeyLastUsage"])); !slices.Equal(keys, []string{"Operation", "Timestamp"}) {
		t.Fatalf("%s", b)
	}
	// A failed operation is not a use.
	e.clock.Add(time.Hour)
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: ct, EncryptionContext: map[string]string{"a": "b"}})
	wantCode(t, err, "InvalidCiphertextException")
	if out, _ = e.k.GetKeyLastUsage(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); out.KeyLastUsage.Operation != "Decrypt" ||
		time.Time(*out.KeyLastUsage.Timestamp).Equal(e.clock.Now()) {
		t.Fatalf("%+v", out.KeyLastUsage)
	}
	_, err = e.k.GetKeyLastUsage(e.ctx, e.c, KeyIDInput{KeyId: "alias/missing"})
	wantCode(t, err, "NotFoundException")
}
