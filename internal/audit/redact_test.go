package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRedactKMS(t *testing.T) {
	req := map[string]any{
		"KeyId":               "alias/app",
		"Plaintext":           "c2VjcmV0",
		"CiphertextBlob":      "AQID",
		"EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
		"EncryptionContext":   map[string]any{"password": "ctx-value-kept", "tenant": "t1"},
		"GrantTokens":         []any{"tok"},
		"KeyStorePassword":    "hunter2",
		"XksProxyAuthenticationCredential": map[string]any{
			"AccessKeyId": "XKSID", "RawSecretAccessKey": "xks-secret",
		},
		"Recipient": map[string]any{"AttestationDocument": "doc", "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"},
		"Nested":    []any{map[string]any{"privateKey": "pk", "ok": 1}},
		"Message":   "sign-me",
	}
	out := RedactKMS("Encrypt", req)
	b, _ := json.Marshal(out)
	s := string(b)
	for _, bad := range []string{"c2VjcmV0", "AQID", "hunter2", "xks-secret", "doc", "pk", "sign-me", "Plaintext", "CiphertextBlob", "KeyStorePassword"} {
		if strings.Contains(s, bad) {
			t.Errorf("%q leaked: %s", bad, s)
		}
	}
	for _, good := range []string{"alias/app", "ctx-value-kept", `"password"`, "tenant", "SYMMETRIC_DEFAULT", "XKSID", "RSAES_OAEP_SHA_256", `"ok":1`} {
		if !strings.Contains(s, good) {
			t.Errorf("%q dropped: %s", good, s)
		}
	}
	if req["Plaintext"] == nil || req["XksProxyAuthenticationCredential"].(map[string]any)["RawSecretAccessKey"] == nil {
		t.Error("input modified")
	}
	// Responses too.
	resp := RedactKMS("GenerateDataKeyPair", map[string]any{"KeyId": "k", "PrivateKeyPlaintext": "x1", "PrivateKeyCiphertextBlob": "x2", "Plaintext": "x3", "CiphertextBlob": "x4"})
	if len(resp) != 1 || resp["KeyId"] != "k" {
		t.Errorf("response: %v", resp)
	}
}

func TestRedactGeneric(t *testing.T) {
	in := map[string]any{
		"UserName":        "alice",
		"Password":        "p1",
		"NewPassword":     "p2",
		"SecretAccessKey": "s",
		"sessionToken":    "tok",
		"Credentials":     map[string]any{"AccessKeyId": "ASIA", "SecretAccessKey": "s2", "SessionToken": "t2", "Expiration": "e"},
		"PLAINTEXT":       "x",
		"Tags":            []any{map[string]any{"Key": "Password", "Value": "v"}},
		"Blob":            []byte("raw"),
		"Headers":         map[string]string{"X": "y", "privatekey": "z"},
	}
	out := Redact(in)
	b, _ := json.Marshal(out)
	s := string(b)
	for _, bad := range []string{"p1", "p2", `"s"`, "s2", "tok", "t2", `"x"`, "raw", `"z"`} {
		if strings.Contains(s, bad) {
			t.Errorf("%s leaked: %s", bad, s)
		}
	}
	for _, good := range []string{"alice", "ASIA", `"Expiration":"e"`, `"Key":"Password"`, `"X":"y"`} {
		if !strings.Contains(s, good) {
			t.Errorf("%s dropped: %s", good, s)
		}
	}
	if Redact(nil) != nil || RedactKMS("x", nil) != nil {
		t.Error("nil")
	}
	if !Denied("KeyStorePassword") || !Denied("keystorepassword") || Denied("KeyId") {
		t.Error("Denied")
	}
}

// One-time MFA codes authenticate within their window: they are not recorded,
// the device's serial number is.
func TestRedactMFACodes(t *testing.T) {
	in := map[string]any{
		"UserName": "bob", "SerialNumber": "arn:aws:iam::111122223333:mfa/bob",
		"AuthenticationCode1": "123456", "AuthenticationCode2": "654321", "TokenCode": "777777",
		"WebIdentityToken": "eyJ", "SAMLAssertion": "PHNhbWw",
	}
	b, _ := json.Marshal(Redact(in))
	for _, bad := range []string{"123456", "654321", "777777", "eyJ", "PHNhbWw"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("%s leaked: %s", bad, b)
		}
	}
	if !strings.Contains(string(b), "mfa/bob") || !strings.Contains(string(b), "bob") {
		t.Errorf("serial number or user dropped: %s", b)
	}
}
