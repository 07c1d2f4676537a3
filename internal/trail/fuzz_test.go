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
