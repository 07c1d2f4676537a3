package awsproto

// Principal is the verified caller of a request.
type Principal struct {
	AccessKeyID string
	Account     string // 12 digits
	ARN         string // e.g. arn:aws:iam::111122223333:root
	Type        string // "Root", "IAMUser", "AssumedRole"...
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
