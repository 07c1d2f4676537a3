package audit

import "strings"

// Redaction contract: the caller passes Append request parameters (and
// response elements) already stripped of secrets. CloudTrail never records
// plaintext, key material, passwords, tokens or ciphertext blobs; it does
// record encryption context. Redact and RedactKMS implement that stripping.

// deniedExact are keys (lower case) dropped wherever they appear.
var deniedExact = map[string]bool{
	"plaintext":                true,
	"secretaccesskey":          true,
	"rawsecretaccesskey":       true,
	"password":                 true,
	"newpassword":              true,
	"oldpassword":              true,
	"keystorepassword":         true,
	"sessiontoken":             true,
	"securitytoken":            true,
	"privatekey":               true,
	"privatekeyplaintext":      true,
	"privatekeyciphertextblob": true,
	"sharedsecret":             true,
	"keymaterial":              true,
	"encryptedkeymaterial":     true,
	"importtoken":              true,
	"ciphertextforrecipient":   true,
	"hsmpassword":              true,
	"pin":                      true,
	"webidentitytoken":         true,
	"samlassertion":            true,
	// A grant token lets its holder use a grant at once; a virtual MFA
	// device's seed (and its QR code) is the device.
	"granttoken":       true,
	"base32stringseed": true,
	"qrcodepng":        true,
}

// deniedSubstrings drop any key containing them (lower case).
// One-time MFA codes (IAM's AuthenticationCode1/2, STS's TokenCode) are
// secrets too: within their window they authenticate.
var deniedSubstrings = []string{"password", "secretaccesskey", "sessiontoken", "plaintext", "privatekey",
	"authenticationcode", "tokencode"}

// preserved are map-valued parameters whose contents are data, not
// structure: their keys are never redacted (encryption context is logged).
var preserved = map[string]bool{
	"encryptioncontext":            true,
	"encryptioncontextsubset":      true,
	"encryptioncontextequals":      true,
	"sourceencryptioncontext":      true,
	"destinationencryptioncontext": true,
}

// Denied reports whether a parameter named key is a secret that must never
// be recorded (case-insensitive).
func Denied(key string) bool {
	k := strings.ToLower(key)
	if deniedExact[k] {
		return true
	}
	for _, s := range deniedSubstrings {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Redact returns a deep copy of params without any denied key (see Denied),
// at any depth, inside maps and lists. Encryption-context maps are copied
// as they are. params is not modified.
func Redact(params map[string]any) map[string]any {
	if params == nil {
		return nil
	}
	return redactMap(params, nil)
}

func redactMap(m map[string]any, drop map[string]bool) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		lk := strings.ToLower(k)
		if Denied(k) || drop[lk] {
			continue
		}
		if preserved[lk] {
			out[k] = copyValue(v)
			continue
		}
		out[k] = redactValue(v, drop)
	}
	return out
}

func redactValue(v any, drop map[string]bool) any {
	switch t := v.(type) {
	case map[string]any:
		return redactMap(t, drop)
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = redactValue(e, drop)
		}
		return c
	case map[string]string:
		c := make(map[string]any, len(t))
		for k, s := range t {
			if !Denied(k) && !drop[strings.ToLower(k)] {
				c[k] = s
			}
		}
		return c
	case []byte:
		return nil // raw bytes are never recorded
	}
	return v
}

func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(t))
		for k, e := range t {
			c[k] = copyValue(e)
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = copyValue(e)
		}
		return c
	case map[string]string:
		c := make(map[string]string, len(t))
		for k, s := range t {
			c[k] = s
		}
		return c
	}
	return v
}

// kmsDropped are KMS request/response members CloudTrail omits (lower case),
// on top of the generic deny-list: ciphertexts, messages, signatures, MACs,
// import material and attestation documents.
var kmsDropped = map[string]bool{
	"ciphertextblob":       true,
	"sourceciphertextblob": true,
	"message":              true,
	"signature":            true,
	"mac":                  true,
	"importtoken":          true,
	"encryptedkeymaterial": true,
	"keystorepassword":     true,
	"attestationdocument":  true,
	"publickey":            true,
}

// RedactKMS returns a copy of the parameters (request or response, as
// decoded from JSON) of KMS operation op with everything CloudTrail does not
// record removed: Plaintext, CiphertextBlob, KeyStorePassword, messages,
// signatures, MACs, import tokens and key material, XKS secrets, and the
// generic deny-list. Encryption context is kept. op is reserved for
// operation-specific rules; the current rules hold for every operation.
func RedactKMS(op string, params map[string]any) map[string]any {
	_ = op
	if params == nil {
		return nil
	}
	return redactMap(params, kmsDropped)
}
