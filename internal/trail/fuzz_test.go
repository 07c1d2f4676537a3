package trail

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// FuzzEnvelope: parsing an encrypted trail file header never panics, never reads past
// the data, and a file that parses and opens must be one that was sealed (any change
// to a sealed file fails to open).
func FuzzEnvelope(f *testing.F) {
	keys := &fakeKMS{master: bytes.Repeat([]byte{3}, 32)}
	ec := map[string]string{EncryptionContextKey: "arn:aws:cloudtrail:us-east-1:111122223333:trail/fuzz"}
	sealed, err := Seal(context.Background(), keys, "k", ec, []byte("gzip bytes"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, 0, byte(0))
	f.Add([]byte(envelopeMagic+"\x00\x01"), 0, byte(0))
	f.Add([]byte(envelopeMagic+"\xff\xff"), 3, byte(1))
	f.Add([]byte("not an envelope"), 0, byte(0))
	f.Fuzz(func(t *testing.T, data []byte, pos int, flip byte) {
		env, err := ParseEnvelope(data)
		if err == nil {
			if len(env.Nonce) != 12 || len(env.Ciphertext) < 16 || len(env.DataKeyBlob) == 0 {
				t.Fatalf("bad split: %d %d %d", len(env.Nonce), len(env.Ciphertext), len(env.DataKeyBlob))
			}
			_, _ = Unseal(context.Background(), keys, ec, data)
		}
		// Tampering with a sealed file is always detected.
		if flip != 0 {
			tampered := bytes.Clone(sealed)
			if pos < 0 {
				pos = -pos
			}
			tampered[pos%len(tampered)] ^= flip
			if !IsEnvelope(tampered) {
				return // the magic changed: not an encrypted file, returned as is
			}
			if out, err := Unseal(context.Background(), keys, ec, tampered); err == nil {
				t.Fatalf("tampered file opened to %q", out)
			}
		}
	})
}

// FuzzParseDigest: a digest file's JSON never panics the parser or the verifier, and
// nothing but a real signature verifies.
func FuzzParseDigest(f *testing.F) {
	d := Digest{AWSAccountID: "111122223333", DigestStartTime: "2026-01-01T00:00:00Z", DigestEndTime: "2026-01-01T01:00:00Z",
		DigestS3Bucket: "bucket-1", DigestS3Object: "AWSLogs/x.json.gz", DigestPublicKeyFingerprint: "00", LogFiles: []LogFile{}}
	b, _ := json.Marshal(d)
	f.Add(b, "00")
	f.Add([]byte(`{"digestStartTime":1}`), "zz")
	f.Add([]byte(`null`), "")
	pub := []byte{0x30, 0x0d, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03}
	f.Fuzz(func(t *testing.T, data []byte, sig string) {
		d, err := ParseDigest(data)
		if err != nil {
			return
		}
		if Verify(pub, d, data, sig) == nil {
			t.Fatal("garbage signature verified")
		}
		_ = digestKeyDate(d.DigestS3Object)
	})
}

// FuzzPutEventSelectors: any PutEventSelectors body is answered (accepted or refused with
// a CloudTrail error, never a panic); accepted selectors are valid again as stored, and
// matching an event with them never panics.
func FuzzPutEventSelectors(f *testing.F) {
	f.Add(`{"EventSelectors":[{"ReadWriteType":"WriteOnly","ExcludeManagementEventSources":["kms.amazonaws.com"]}]}`)
	f.Add(`{"EventSelectors":[{"IncludeManagementEvents":false,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::b/"]}]}]}`)
	f.Add(`{"AdvancedEventSelectors":[{"Name":"w","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"readOnly","Equals":["false"]},{"Field":"eventSource","NotEquals":["kms.amazonaws.com"]}]}]}`)
	f.Add(`{"AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]},{"Field":"eventName","NotStartsWith":["Get"]}]}]}`)
	f.Add(`{"EventSelectors":[],"AdvancedEventSelectors":null}`)
	f.Fuzz(func(t *testing.T, body string) {
		in, err := decodeSelectors([]byte(body))
		if err != nil {
			return
		}
		var basic []EventSelector
		var adv []AdvancedEventSelector
		if in.AdvancedEventSelectors != nil {
			if adv, err = advancedSelectors(in.AdvancedEventSelectors); err != nil {
				if MapError(err) == nil {
					t.Fatalf("unmapped error %v", err)
				}
				return
			}
			if _, err := advancedSelectors(adv); err != nil {
				t.Fatalf("stored advanced selectors are refused: %v", err)
			}
		} else {
			if basic, err = basicSelectors(in.EventSelectors); err != nil {
				if MapError(err) == nil {
					t.Fatalf("unmapped error %v", err)
				}
				return
			}
		}
		tr := Trail{EventSelectors: basic, AdvancedEventSelectors: adv}
		for _, ro := range []bool{false, true} {
			_ = tr.Selects(true, ro, "kms.amazonaws.com")
			_ = tr.Selects(false, ro, "iam.amazonaws.com")
		}
	})
}
