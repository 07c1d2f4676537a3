package policy

import "strings"

// Principal identifies the caller.
type Principal struct {
	// ARN is the caller's ARN, e.g. arn:aws:iam::111122223333:user/alice,
	// arn:aws:iam::111122223333:root, or
	// arn:aws:sts::111122223333:assumed-role/R/session. For a service
	// principal it is the service name, e.g. kms.amazonaws.com.
	ARN string
	// Account is the caller's account ID.
	Account string
	// Type is the principal type: AWS (the default when empty), Service,
	// Federated or CanonicalUser.
	Type string
	// Tags are the principal's tags (aws:PrincipalTag/<key>).
	Tags map[string]string
	// Username and UserID back aws:username and aws:userid.
	Username string
	UserID   string
}

// Request is the request context a decision is made on.
type Request struct {
	Principal Principal
	Action    string // e.g. kms:Decrypt; matched case-insensitively
	Resource  string // an ARN; matched case-sensitively
	// Context holds condition keys and their values; multi-valued keys
	// (kms:EncryptionContextKeys, aws:TagKeys) have several values. Keys
	// are matched case-insensitively; keys that are written as in the
	// policy are found fastest.
	Context map[string][]string
}

// values is a zero-allocation view of a context key's values.
type values struct {
	list   []string
	one    string
	single bool
}

func (v values) len() int {
	if v.single {
		return 1
	}
	return len(v.list)
}

func (v values) at(i int) string {
	if v.single {
		return v.one
	}
	return v.list[i]
}

// lookup finds a condition key: in Context first, then among the keys
// derived from the principal.
func (r *Request) lookup(key string) values {
	if vs, ok := r.Context[key]; ok {
		return values{list: vs}
	}
	for k, vs := range r.Context {
		if strings.EqualFold(k, key) {
			return values{list: vs}
		}
	}
	one := func(s string) values {
		if s == "" {
			return values{}
		}
		return values{one: s, single: true}
	}
	const tagPrefix = "aws:principaltag/"
	switch {
	case strings.EqualFold(key, "aws:PrincipalArn"):
		return one(r.Principal.ARN)
	case strings.EqualFold(key, "aws:PrincipalAccount"):
		return one(r.Principal.Account)
	case strings.EqualFold(key, "aws:username"):
		return one(r.Principal.Username)
	case strings.EqualFold(key, "aws:userid"):
		return one(r.Principal.UserID)
	case len(key) > len(tagPrefix) && strings.EqualFold(key[:len(tagPrefix)], tagPrefix):
		name := key[len(tagPrefix):]
		if v, ok := r.Principal.Tags[name]; ok {
			return values{one: v, single: true}
		}
		for k, v := range r.Principal.Tags {
			if strings.EqualFold(k, name) {
				return values{one: v, single: true}
			}
		}
	}
	return values{}
}
