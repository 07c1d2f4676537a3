package kms

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"strings"
	"testing"
	"time"
)

// irImport imports material into keyID with the given input, failing the test on error.
func (e *testEnv) irImport(keyID string, material []byte, in ImportKeyMaterialInput) string {
	e.t.Helper()
	out, err := e.importMaterial(e.c, keyID, "RSAES_OAEP_SHA_256", material, in)
	if err != nil {
		e.t.Fatalf("ImportKeyMaterial %s: %v", in.ImportType, err)
	}
	return out.KeyMaterialId
}

// irList lists all key materials of keyID (ALL_KEY_MATERIAL) by KeyMaterialId, with their order.
func (e *testEnv) irList(keyID, include string) ([]string, map[string]RotationsListEntry) {
	e.t.Helper()
	l, err := e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: keyID, IncludeKeyMaterial: include})
	if err != nil {
		e.t.Fatalf("ListKeyRotations: %v", err)
	}
	var ids []string
	byID := map[string]RotationsListEntry{}
	for _, r := range l.Rotations {
		ids = append(ids, r.KeyMaterialId)
		byID[r.KeyMaterialId] = r
	}
	return ids, byID
}

func (e *testEnv) irDecrypt(blob []byte) (*DecryptOutput, error) {
	return e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: blob})
}

func desc(s string) *string { return &s }

// sealLocally makes a ciphertext of keyID's version ver with the AES key material key, as
// Coffer's format is documented (docs/kms.md "Ciphertext format").
func sealLocally(t testing.TB, key []byte, keyID string, ver uint32, pt string) []byte {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := cipher.NewGCM(b)
	header := encodeHeader(keyID, ver)
	nonce := randBytes(t, 12)
	out := append(append(append([]byte(nil), header...), nonce...), g.Seal(nil, nonce, []byte(pt), blobAAD(header, nil))...)
	return out
}

// TestImportNewKeyMaterialAndRotateOnDemand: NEW_KEY_MATERIAL into a symmetric EXTERNAL key
// adds material in PENDING_ROTATION; RotateKeyOnDemand makes it current and the previous
// material keeps decrypting.
func TestImportNewKeyMaterialAndRotateOnDemand(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{Origin: OriginExternal})
	key1, key2 := randBytes(t, 32), randBytes(t, 32)
	id1 := e.irImport(md.KeyId, key1, ImportKeyMaterialInput{KeyMaterialDescription: desc("first")}) // NEW by default
	b1 := e.lcEncrypt(md.KeyId, "old")
	if !bytes.Equal(openLocally(t, key1, b1, nil), []byte("old")) {
		t.Fatal("not encrypted under the first material")
	}
	// Nothing pending: nothing to rotate to.
	_, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")

	validTo := e.clock.Now().Add(48 * time.Hour).Truncate(time.Second)
	id2 := e.irImport(md.KeyId, key2, ImportKeyMaterialInput{ImportType: importNew, KeyMaterialDescription: desc("second one"),
		ExpirationModel: expiresModel, ValidTo: epochAt(validTo)})
	if id2 == id1 || len(id2) != 64 {
		t.Fatalf("ids %s %s", id1, id2)
	}
	ids, l := e.irList(md.KeyId, "ALL_KEY_MATERIAL")
	if len(ids) != 2 || ids[0] != id1 || ids[1] != id2 {
		t.Fatalf("%v", ids)
	}
	if r := l[id1]; r.KeyMaterialState != "CURRENT" || r.KeyMaterialDescription != "first" || r.ImportState != "IMPORTED" ||
		r.ExpirationModel != doesNotExpireModel || r.ValidTo != nil || r.RotationDate != nil {
		t.Fatalf("%+v", r)
	}
	if r := l[id2]; r.KeyMaterialState != "PENDING_ROTATION" || r.KeyMaterialDescription != "second one" || r.ImportState != "IMPORTED" ||
		r.ExpirationModel != expiresModel || r.ValidTo == nil || !time.Time(*r.ValidTo).Equal(validTo) || r.RotationDate != nil || r.RotationType != "" {
		t.Fatalf("%+v", r)
	}
	if ids, _ := e.irList(md.KeyId, "ROTATIONS_ONLY"); len(ids) != 0 {
		t.Fatalf("rotations before rotating: %v", ids)
	}
	// Pending material is not used yet.
	d := e.describe(e.c, md.KeyId)
	if d.CurrentKeyMaterialId != id1 || d.KeyState != StateEnabled || d.ExpirationModel != doesNotExpireModel || d.ValidTo != nil {
		t.Fatalf("%+v", d)
	}
	openLocally(t, key1, e.lcEncrypt(md.KeyId, "still old"), nil)
	// A ciphertext made (by the material's owner) under the pending material does not
	// decrypt before the rotation.
	crafted := sealLocally(t, key2, md.KeyId, 2, "crafted")
	_, err = e.irDecrypt(crafted)
	wantCode(t, err, "InvalidCiphertextException")
	// One pending material at a time.
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", randBytes(t, 32), ImportKeyMaterialInput{ImportType: importNew})
	wantCode(t, err, "KMSInvalidStateException")
	// A disabled key does not rotate.
	if err := e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "DisabledException")
	if err := e.k.EnableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}

	now := e.clock.Now()
	if out, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.Arn}); err != nil || out.KeyId != md.KeyId {
		t.Fatalf("%v %+v", err, out)
	}
	d = e.describe(e.c, md.KeyId)
	if d.CurrentKeyMaterialId != id2 || d.KeyState != StateEnabled || d.ExpirationModel != expiresModel || d.ValidTo == nil || !time.Time(*d.ValidTo).Equal(validTo) {
		t.Fatalf("%+v", d)
	}
	b2 := e.lcEncrypt(md.KeyId, "new")
	if !bytes.Equal(openLocally(t, key2, b2, nil), []byte("new")) {
		t.Fatal("not encrypted under the new material")
	}
	for _, c := range []struct {
		blob    []byte
		pt, mat string
	}{{b1, "old", id1}, {b2, "new", id2}} {
		dec, err := e.irDecrypt(c.blob)
		if err != nil || string(dec.Plaintext) != c.pt || dec.KeyMaterialId != c.mat {
			t.Fatalf("%v %+v", err, dec)
		}
	}
	if dec, err := e.irDecrypt(crafted); err != nil || string(dec.Plaintext) != "crafted" {
		t.Fatalf("the crafted ciphertext after the rotation: %v", err)
	}
	gdk, err := e.k.GenerateDataKey(e.ctx, e.c, GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256"}, false)
	if err != nil || gdk.KeyMaterialId != id2 {
		t.Fatalf("%v %+v", err, gdk)
	}
	ids, l = e.irList(md.KeyId, "ROTATIONS_ONLY")
	if r := l[id2]; len(ids) != 1 || r.KeyMaterialState != "CURRENT" || r.RotationType != rotationOnDemand || r.RotationDate == nil || !time.Time(*r.RotationDate).Equal(now) {
		t.Fatalf("%v %+v", ids, r)
	}
	ids, l = e.irList(md.KeyId, "ALL_KEY_MATERIAL")
	if len(ids) != 2 || l[id1].KeyMaterialState != "NON_CURRENT" || l[id1].ExpirationModel != doesNotExpireModel || l[id2].KeyMaterialState != "CURRENT" {
		t.Fatalf("%+v", l)
	}
	// Nothing pending any more.
	_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	// Material the key has is not new.
	for _, k := range [][]byte{key1, key2} {
		_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", k, ImportKeyMaterialInput{ImportType: importNew})
		wantCode(t, err, "IncorrectKeyMaterialException")
	}
	// Automatic rotation stays unsupported for imported keys.
	wantCode(t, e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId}), "UnsupportedOperationException")
	if st := e.lcRotationStatus(e.c, md.KeyId); st.KeyRotationEnabled {
		t.Fatalf("%+v", st)
	}

	// EXISTING_KEY_MATERIAL (the default now) reimports either material; KeyMaterialId must
	// name the material imported; the description is kept unless given.
	if id := e.irImport(md.KeyId, key1, ImportKeyMaterialInput{}); id != id1 {
		t.Fatalf("reimport answered %s, want %s", id, id1)
	}
	if id := e.irImport(md.KeyId, key1, ImportKeyMaterialInput{ImportType: importExisting, KeyMaterialId: id1, KeyMaterialDescription: desc("first renamed")}); id != id1 {
		t.Fatalf("reimport answered %s", id)
	}
	_, l = e.irList(md.KeyId, "ALL_KEY_MATERIAL")
	if l[id1].KeyMaterialDescription != "first renamed" || l[id2].KeyMaterialDescription != "second one" || l[id1].KeyMaterialState != "NON_CURRENT" {
		t.Fatalf("%+v", l)
	}
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", key1, ImportKeyMaterialInput{KeyMaterialId: id2})
	wantCode(t, err, "IncorrectKeyMaterialException")
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", randBytes(t, 32), ImportKeyMaterialInput{})
	wantCode(t, err, "IncorrectKeyMaterialException")
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", key1, ImportKeyMaterialInput{ImportType: importNew, KeyMaterialId: id1})
	wantCode(t, err, "ValidationException")
	// A key material description is for symmetric keys only, as ImportType is.
	hm := e.createKey(CreateKeyInput{Origin: OriginExternal, KeySpec: SpecHMAC256, KeyUsage: UsageMAC})
	_, err = e.importMaterial(e.c, hm.KeyId, "RSAES_OAEP_SHA_256", randBytes(t, 32), ImportKeyMaterialInput{KeyMaterialDescription: desc("x")})
	wantCode(t, err, "ValidationException")

	// The state survives a restart.
	e.restart()
	d = e.describe(e.c, md.KeyId)
	if d.CurrentKeyMaterialId != id2 || d.KeyState != StateEnabled || d.ExpirationModel != expiresModel {
		t.Fatalf("after restart: %+v", d)
	}
	for _, b := range [][]byte{b1, b2} {
		if _, err := e.irDecrypt(b); err != nil {
			t.Fatalf("after restart: %v", err)
		}
	}
	if ids, l := e.irList(md.KeyId, "ALL_KEY_MATERIAL"); len(ids) != 2 || l[id1].KeyMaterialDescription != "first renamed" || l[id2].RotationType != rotationOnDemand {
		t.Fatalf("after restart: %+v", l)
	}
}

// TestDeleteImportedKeyMaterialByID: DeleteImportedKeyMaterial deletes one material; the
// key is PendingImport while any material permanently associated with it is missing, and
// material PENDING_ROTATION is dissociated without changing the key state.
func TestDeleteImportedKeyMaterialByID(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{Origin: OriginExternal})
	key1, key2, key3 := randBytes(t, 32), randBytes(t, 32), randBytes(t, 32)
	id1 := e.irImport(md.KeyId, key1, ImportKeyMaterialInput{})
	b1 := e.lcEncrypt(md.KeyId, "one")
	id2 := e.irImport(md.KeyId, key2, ImportKeyMaterialInput{ImportType: importNew})
	if _, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	b2 := e.lcEncrypt(md.KeyId, "two")
	id3 := e.irImport(md.KeyId, key3, ImportKeyMaterialInput{ImportType: importNew})

	// The pending material: dissociated, the key stays Enabled.
	del, err := e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.KeyId, KeyMaterialId: id3})
	if err != nil || del.KeyMaterialId != id3 || del.KeyId != md.Arn {
		t.Fatalf("%v %+v", err, del)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StateEnabled || d.CurrentKeyMaterialId != id2 {
		t.Fatalf("%+v", d)
	}
	if ids, _ := e.irList(md.KeyId, "ALL_KEY_MATERIAL"); len(ids) != 2 || ids[0] != id1 || ids[1] != id2 {
		t.Fatalf("%v", ids)
	}
	_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.KeyId, KeyMaterialId: id3})
	wantCode(t, err, "NotFoundException")
	// Other material can take its place.
	if id4 := e.irImport(md.KeyId, randBytes(t, 32), ImportKeyMaterialInput{ImportType: importNew}); id4 == id3 {
		t.Fatal("same id for other material")
	}

	// A non-current material: the key is PendingImport, no ciphertext decrypts.
	if _, err := e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.KeyId, KeyMaterialId: id1}); err != nil {
		t.Fatal(err)
	}
	d := e.describe(e.c, md.KeyId)
	if d.KeyState != StatePendingImport || d.CurrentKeyMaterialId != id2 {
		t.Fatalf("%+v", d)
	}
	for _, b := range [][]byte{b1, b2} {
		_, err := e.irDecrypt(b)
		wantCode(t, err, "KMSInvalidStateException")
	}
	_, l := e.irList(md.KeyId, "ALL_KEY_MATERIAL")
	if l[id1].ImportState != "PENDING_IMPORT" || l[id1].ExpirationModel != "" || l[id2].ImportState != "IMPORTED" {
		t.Fatalf("%+v", l)
	}
	_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	// Reimporting it makes the key whole again.
	if id := e.irImport(md.KeyId, key1, ImportKeyMaterialInput{}); id != id1 {
		t.Fatalf("reimport answered %s", id)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StateEnabled {
		t.Fatalf("%+v", d)
	}
	if dec, err := e.irDecrypt(b1); err != nil || string(dec.Plaintext) != "one" {
		t.Fatalf("%v", err)
	}

	// Without KeyMaterialId: the current material.
	del, err = e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.KeyId})
	if err != nil || del.KeyMaterialId != id2 {
		t.Fatalf("%v %+v", err, del)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StatePendingImport || d.CurrentKeyMaterialId != "" || d.ExpirationModel != "" {
		t.Fatalf("%+v", d)
	}
	_, err = e.irDecrypt(b1)
	wantCode(t, err, "KMSInvalidStateException")
	if id := e.irImport(md.KeyId, key2, ImportKeyMaterialInput{ImportType: importExisting, KeyMaterialId: id2}); id != id2 {
		t.Fatalf("reimport answered %s", id)
	}
	for _, b := range [][]byte{b1, b2} {
		if _, err := e.irDecrypt(b); err != nil {
			t.Fatal(err)
		}
	}
	// The HSM objects of a deleted material are destroyed.
	before := len(e.lcMaterial(md.KeyId).Versions[0].Handles)
	h := e.lcMaterial(md.KeyId).Versions[0].Handles[0]
	if _, err := e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.KeyId, KeyMaterialId: id1}); err != nil {
		t.Fatal(err)
	}
	sess, err := e.k.session(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.GetKey(sess, h); before != 1 || err == nil {
		t.Fatalf("the deleted material's object %d is still in the HSM (%d handles)", h, before)
	}
}

// TestImportedMaterialExpiresPerMaterial: each material expires at its own ValidTo.
func TestImportedMaterialExpiresPerMaterial(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{Origin: OriginExternal})
	key1, key2 := randBytes(t, 32), randBytes(t, 32)
	id1 := e.irImport(md.KeyId, key1, ImportKeyMaterialInput{})
	b1 := e.lcEncrypt(md.KeyId, "one")
	// A pending material that expires is dissociated; the key stays Enabled.
	e.irImport(md.KeyId, key2, ImportKeyMaterialInput{ImportType: importNew, ExpirationModel: expiresModel, ValidTo: epochAt(e.clock.Now().Add(time.Hour))})
	e.clock.Add(2 * time.Hour)
	e.lcTick()
	if ids, _ := e.irList(md.KeyId, "ALL_KEY_MATERIAL"); len(ids) != 1 || ids[0] != id1 {
		t.Fatalf("%v", ids)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StateEnabled {
		t.Fatalf("%+v", d)
	}
	// The non-current material expires first: the key is PendingImport though its current
	// material is there.
	id2 := e.irImport(md.KeyId, key2, ImportKeyMaterialInput{ImportType: importNew, ExpirationModel: expiresModel, ValidTo: epochAt(e.clock.Now().Add(3 * time.Hour))})
	if _, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	b2 := e.lcEncrypt(md.KeyId, "two")
	e.irImport(md.KeyId, key1, ImportKeyMaterialInput{ExpirationModel: expiresModel, ValidTo: epochAt(e.clock.Now().Add(time.Hour))})
	e.clock.Add(2 * time.Hour)
	e.lcTick()
	_, l := e.irList(md.KeyId, "ALL_KEY_MATERIAL")
	if l[id1].ImportState != "PENDING_IMPORT" || l[id2].ImportState != "IMPORTED" || l[id2].KeyMaterialState != "CURRENT" {
		t.Fatalf("%+v", l)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StatePendingImport || d.CurrentKeyMaterialId != id2 || d.ExpirationModel != expiresModel {
		t.Fatalf("%+v", d)
	}
	_, err := e.irDecrypt(b2)
	wantCode(t, err, "KMSInvalidStateException")
	// Then the current one.
	e.clock.Add(2 * time.Hour)
	e.lcTick()
	if d := e.describe(e.c, md.KeyId); d.KeyState != StatePendingImport || d.CurrentKeyMaterialId != "" {
		t.Fatalf("%+v", d)
	}
	// Both reimported (no expiry): usable, both ciphertexts decrypt.
	e.irImport(md.KeyId, key2, ImportKeyMaterialInput{})
	if d := e.describe(e.c, md.KeyId); d.KeyState != StatePendingImport {
		t.Fatalf("with one of two materials: %+v", d)
	}
	e.irImport(md.KeyId, key1, ImportKeyMaterialInput{})
	for _, b := range [][]byte{b1, b2} {
		if _, err := e.irDecrypt(b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRotateImportedKeyLimitsAndMultiRegion: the on-demand quota counts rotations of
// imported keys; multi-Region imported keys keep one material, as AWS restricted it.
func TestRotateImportedKeyLimitsAndMultiRegion(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{Origin: OriginExternal})
	e.irImport(md.KeyId, randBytes(t, 32), ImportKeyMaterialInput{})
	e.irImport(md.KeyId, randBytes(t, 32), ImportKeyMaterialInput{ImportType: importNew})
	// 25 on-demand rotations recorded already.
	k, m, err := e.k.resolve(e.c, md.KeyId)
	if err != nil {
		t.Fatal(err)
	}
	nk, nm := k.clone(), m.clone()
	for range maxOnDemandRotations {
		nm.Rotations = append(nm.Rotations, rotationRec{Date: e.clock.Now(), Type: rotationOnDemand, MaterialID: nm.Versions[0].ID})
	}
	if err := e.k.propose(e.ctx, cmdPutKey, putKeyCmd{Key: nk, Expect: k.Revision, Material: nm, ExpectMaterial: m.Revision}); err != nil {
		t.Fatal(err)
	}
	_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "LimitExceededException")

	mr := e.createKey(CreateKeyInput{Origin: OriginExternal, MultiRegion: lcTrue()})
	e.irImport(mr.KeyId, randBytes(t, 32), ImportKeyMaterialInput{})
	_, err = e.importMaterial(e.c, mr.KeyId, "RSAES_OAEP_SHA_256", randBytes(t, 32), ImportKeyMaterialInput{ImportType: importNew})
	wantCode(t, err, "UnsupportedOperationException")
	_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: mr.KeyId})
	wantCode(t, err, "UnsupportedOperationException")
}

// TestImportedKeyOfAnEarlierVersion: a key recorded by an earlier Coffer (the expiration on
// the key, none on its material) keeps its expiration through a rotation, and it expires.
func TestImportedKeyOfAnEarlierVersion(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{Origin: OriginExternal})
	key1 := randBytes(t, 32)
	validTo := e.clock.Now().Add(5 * time.Hour).Truncate(time.Second)
	id1 := e.irImport(md.KeyId, key1, ImportKeyMaterialInput{ExpirationModel: expiresModel, ValidTo: epochAt(validTo)})
	// Rewrite the records as an earlier Coffer kept them.
	k, m, err := e.k.resolve(e.c, md.KeyId)
	if err != nil {
		t.Fatal(err)
	}
	nk, nm := k.clone(), m.clone()
	nm.Versions[0].ExpirationModel, nm.Versions[0].ValidTo, nm.Versions[0].Description = "", time.Time{}, ""
	if err := e.k.propose(e.ctx, cmdPutKey, putKeyCmd{Key: nk, Expect: k.Revision, Material: nm, ExpectMaterial: m.Revision}); err != nil {
		t.Fatal(err)
	}
	snap, err := e.k.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(snap), `"pending_rotation"`) || !strings.Contains(string(snap), `"expiration_model":"KEY_MATERIAL_EXPIRES"`) {
		t.Fatalf("not an earlier record: %s", snap)
	}
	e.restart()
	_, l := e.irList(md.KeyId, "ALL_KEY_MATERIAL")
	if r := l[id1]; r.ExpirationModel != expiresModel || r.ValidTo == nil || !time.Time(*r.ValidTo).Equal(validTo) {
		t.Fatalf("%+v", r)
	}
	id2 := e.irImport(md.KeyId, randBytes(t, 32), ImportKeyMaterialInput{ImportType: importNew})
	if _, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, l = e.irList(md.KeyId, "ALL_KEY_MATERIAL")
	if r := l[id1]; r.KeyMaterialState != "NON_CURRENT" || r.ExpirationModel != expiresModel || !time.Time(*r.ValidTo).Equal(validTo) {
		t.Fatalf("%+v", r)
	}
	if r := l[id2]; r.ExpirationModel != doesNotExpireModel || r.KeyMaterialState != "CURRENT" {
		t.Fatalf("%+v", r)
	}
	e.clock.Add(6 * time.Hour)
	e.lcTick()
	if d := e.describe(e.c, md.KeyId); d.KeyState != StatePendingImport || d.CurrentKeyMaterialId != id2 {
		t.Fatalf("%+v", d)
	}
}
