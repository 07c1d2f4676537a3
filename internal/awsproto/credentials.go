package awsproto

import "time"

// Principal is the verified caller of a request.
type Principal struct {
	AccessKeyID string
	Account     string // 12 digits
	ARN         string // e.g. arn:aws:iam::111122223333:root
	Type        string // "Root", "IAMUser", "AssumedRole"...
	UserName    string // friendly name (IAM user name, role name...), if any
	// UserID is the principal's unique id as CloudTrail's principalId records it: the
	// account for the root, AIDA... for an IAM user, AROA...:<session> for an assumed
	// role; empty when unknown.
	UserID string

	// SessionToken is the token a request signed with this (temporary) key
	// must present in a signed X-Amz-Security-Token header; empty for
	// long-term keys, which must not present one. The Verifier compares it in
	// constant time and clears it in the Principal it returns (so Call never
	// carries it); Temporary tells that it was set.
	SessionToken string
	// Temporary is set by the Verifier when the key had a SessionToken.
	Temporary bool
	// Expires is when a temporary credential stops working (zero: never).
	// Requests at or after it get ExpiredTokenException / ExpiredToken.
	Expires time.Time

	MFAAuthenticated bool      // the credential was issued after an MFA check
	MFAAuthTime      time.Time // when that MFA check happened (zero if none)

	Tags            map[string]string // principal (and session) tags; do not modify
	SourceIdentity  string            // sts:SourceIdentity of an assumed-role session
	RoleSessionName string            // session name of an assumed-role session
}

// CredentialStore resolves an access key to its secret and principal.
// ok=false: unknown key. Lookup is called once per authenticated request and
// must be safe for concurrent use.
type CredentialStore interface {
	Lookup(accessKeyID string) (secret string, p Principal, ok bool)
}

// StaticCredentials is a CredentialStore with fixed keys (the root credentials
// of a --dev node), by access key id. It must not be modified while in use.
type StaticCredentials map[string]StaticCredential

// StaticCredential is one entry of StaticCredentials.
type StaticCredential struct {
	Secret    string
	Principal Principal
}

// Lookup implements CredentialStore. The returned Principal's AccessKeyID is
// always the looked-up key.
func (s StaticCredentials) Lookup(accessKeyID string) (string, Principal, bool) {
	c, ok := s[accessKeyID]
	if !ok {
		return "", Principal{}, false
	}
	p := c.Principal
	p.AccessKeyID = accessKeyID
	return c.Secret, p, true
}
