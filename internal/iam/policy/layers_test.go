package policy

import (
	"testing"
)

const (
	roleARN    = "arn:aws:iam::111122223333:role/App"
	sessionARN = "arn:aws:sts::111122223333:assumed-role/App/s1"
)

func allowDoc(action string) *Policy {
	return MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"` + action + `","Resource":"*"}}`)
}

func denyDoc(action string) *Policy {
	return MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"` + action + `","Resource":"*"}}`)
}

func resourceDoc(principal, action string) *Policy {
	return MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"` + action + `","Resource":"*"}}`)
}

func sessionReq(action string) *Request {
	return &Request{Principal: Principal{ARN: sessionARN, Account: acct}, Action: action, Resource: keyARN}
}

// The session's permissions are the intersection of the role's identity policies and the
// session policies: each must allow, and a session policy alone grants nothing.
func TestSessionPolicyIntersects(t *testing.T) {
	identity := []*Policy{allowDoc("kms:*"), allowDoc("kms:Encrypt").As(SessionLayer)}
	if d := Decide(sessionReq("kms:Encrypt"), identity, nil); !d.Allowed || d.Matched.Set != IdentitySet {
		t.Fatalf("Encrypt: %+v, want allowed by the identity policy", d)
	}
	d := Decide(sessionReq("kms:Decrypt"), identity, nil)
	if d.Allowed || d.Reason != ImplicitDeny || d.Matched.Set != SessionSet {
		t.Fatalf("Decrypt: %+v, want implicitly denied by the session policy", d)
	}
	// The session policy allows more than the role: the role decides.
	onlyEncrypt := []*Policy{allowDoc("kms:Encrypt"), allowDoc("kms:*").As(SessionLayer)}
	d = Decide(sessionReq("kms:Decrypt"), onlyEncrypt, nil)
	if d.Allowed || d.Reason != ImplicitDeny || d.Matched.Set != IdentitySet {
		t.Fatalf("Decrypt beyond the role: %+v, want implicitly denied (no identity-based policy)", d)
	}
	// Without session policies, the same identity policy allows Decrypt.
	if d := Decide(sessionReq("kms:Decrypt"), identity[:1], nil); !d.Allowed {
		t.Fatalf("Decrypt without session policy: %+v", d)
	}
	// Several session policies: any of them may allow.
	two := []*Policy{allowDoc("kms:*"), allowDoc("kms:Encrypt").As(SessionLayer), allowDoc("kms:Decrypt").As(SessionLayer)}
	if d := Decide(sessionReq("kms:Decrypt"), two, nil); !d.Allowed {
		t.Fatalf("Decrypt allowed by the second session policy: %+v", d)
	}
	// Managed session policies that no longer exist allow nothing.
	gone := []*Policy{allowDoc("kms:*"), EmptyLayer(SessionLayer)}
	if d := Decide(sessionReq("kms:Encrypt"), gone, nil); d.Allowed || d.Matched.Set != SessionSet {
		t.Fatalf("empty session layer: %+v", d)
	}
}

// An explicit Deny in any layer wins, and says where it is.
func TestLayerExplicitDeny(t *testing.T) {
	for _, tc := range []struct {
		name     string
		identity []*Policy
		set      PolicySet
	}{
		{"session", []*Policy{allowDoc("kms:*"), MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}`).As(SessionLayer)}, SessionSet},
		{"boundary", []*Policy{allowDoc("kms:*"), denyDoc("kms:Decrypt").As(BoundaryLayer), allowDoc("*").As(BoundaryLayer)}, BoundarySet},
		{"identity", []*Policy{denyDoc("kms:Decrypt"), allowDoc("*").As(BoundaryLayer), allowDoc("*").As(SessionLayer)}, IdentitySet},
	} {
		d := Decide(sessionReq("kms:Decrypt"), tc.identity, []*Policy{resourceDoc(sessionARN, "kms:*")})
		if d.Allowed || d.Reason != ExplicitDeny || d.Matched.Set != tc.set {
			t.Errorf("%s: %+v, want an explicit deny in set %d", tc.name, d, tc.set)
		}
		d = KMSDecide(sessionReq("kms:Decrypt"), resourceDoc(sessionARN, "kms:*"), tc.identity, nil)
		if d.Allowed || d.Reason != ExplicitDeny || d.Matched.Set != tc.set {
			t.Errorf("KMS %s: %+v, want an explicit deny in set %d", tc.name, d, tc.set)
		}
	}
}

// A permissions boundary limits what identity policies grant; it grants nothing itself.
func TestBoundaryLimitsIdentity(t *testing.T) {
	req := func(action string) *Request {
		return &Request{Principal: Principal{ARN: alice, Account: acct}, Action: action, Resource: "*"}
	}
	identity := []*Policy{allowDoc("iam:*"), allowDoc("iam:Get*").As(BoundaryLayer)}
	if d := Decide(req("iam:GetUser"), identity, nil); !d.Allowed {
		t.Fatalf("GetUser: %+v", d)
	}
	d := Decide(req("iam:CreateUser"), identity, nil)
	if d.Allowed || d.Matched.Set != BoundarySet {
		t.Fatalf("CreateUser: %+v, want implicitly denied by the boundary", d)
	}
	d = Decide(req("kms:Encrypt"), []*Policy{allowDoc("kms:*").As(BoundaryLayer)}, nil)
	if d.Allowed || d.Matched.Set != IdentitySet {
		t.Fatalf("boundary alone: %+v, want implicitly denied (no identity-based policy)", d)
	}
	// Boundary and session policy of a role session: all three must allow.
	all := []*Policy{allowDoc("kms:*"), allowDoc("kms:Encrypt").As(BoundaryLayer), allowDoc("kms:*").As(SessionLayer)}
	if d := Decide(sessionReq("kms:Encrypt"), all, nil); !d.Allowed {
		t.Fatalf("Encrypt: %+v", d)
	}
	if d := Decide(sessionReq("kms:Decrypt"), all, nil); d.Allowed || d.Matched.Set != BoundarySet {
		t.Fatalf("Decrypt: %+v, want implicitly denied by the boundary", d)
	}
}

// Resource-based policies: one naming the caller's own ARN (the user, the role session) is
// not limited by the boundary or session policies; one naming the role (or the account,
// delegating to IAM) is.
func TestLayersAndResourcePolicies(t *testing.T) {
	limits := []*Policy{allowDoc("kms:Encrypt").As(SessionLayer), allowDoc("kms:Encrypt").As(BoundaryLayer)}
	d := Decide(sessionReq("kms:Decrypt"), limits, []*Policy{resourceDoc(sessionARN, "kms:Decrypt")})
	if !d.Allowed || d.Matched.Set != ResourceSet {
		t.Errorf("resource policy naming the session: %+v, want allowed", d)
	}
	d = Decide(sessionReq("kms:Decrypt"), limits, []*Policy{resourceDoc(roleARN, "kms:Decrypt")})
	if d.Allowed || d.Matched.Set != BoundarySet {
		t.Errorf("resource policy naming the role: %+v, want implicitly denied by the boundary", d)
	}
	d = Decide(sessionReq("kms:Encrypt"), limits, []*Policy{resourceDoc(roleARN, "kms:Encrypt")})
	if !d.Allowed || d.Matched.Set != ResourceSet {
		t.Errorf("resource policy naming the role, within the limits: %+v", d)
	}
	// A resource policy naming the role and one naming the session: the direct one decides.
	d = Decide(sessionReq("kms:Decrypt"), limits, []*Policy{resourceDoc(roleARN, "kms:*"), resourceDoc(sessionARN, "kms:Decrypt")})
	if !d.Allowed || d.Matched.Policy != 1 {
		t.Errorf("two resource policies: %+v, want allowed by the second", d)
	}

	// KMS key policies.
	keyRoot := resourceDoc("arn:aws:iam::111122223333:root", "kms:*")
	withID := append([]*Policy{allowDoc("kms:*")}, limits...)
	if d := KMSDecide(sessionReq("kms:Encrypt"), keyRoot, withID, nil); !d.Allowed || d.Matched.Set != IdentitySet {
		t.Errorf("key policy delegating, Encrypt: %+v", d)
	}
	if d := KMSDecide(sessionReq("kms:Decrypt"), keyRoot, withID, nil); d.Allowed || d.Matched.Set != BoundarySet {
		t.Errorf("key policy delegating, Decrypt: %+v, want denied by the boundary", d)
	}
	if d := KMSDecide(sessionReq("kms:Decrypt"), resourceDoc(sessionARN, "kms:Decrypt"), limits, nil); !d.Allowed {
		t.Errorf("key policy naming the session: %+v, want allowed", d)
	}
	if d := KMSDecide(sessionReq("kms:Decrypt"), resourceDoc(roleARN, "kms:Decrypt"), limits[:1], nil); d.Allowed || d.Matched.Set != SessionSet {
		t.Errorf("key policy naming the role: %+v, want denied by the session policy", d)
	}
	grant := []*Policy{MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}`)}
	if d := KMSDecide(sessionReq("kms:Decrypt"), keyRoot, limits[:1], grant); d.Allowed || d.Matched.Set != SessionSet {
		t.Errorf("grant: %+v, want denied by the session policy", d)
	}
	if d := KMSDecide(sessionReq("kms:Decrypt"), keyRoot, nil, grant); !d.Allowed || d.Matched.Set != GrantSet {
		t.Errorf("grant without session policy: %+v", d)
	}

	// An IAM user with a boundary: a resource policy naming the user is not limited.
	user := &Request{Principal: Principal{ARN: alice, Account: acct}, Action: "kms:Decrypt", Resource: keyARN}
	bound := []*Policy{allowDoc("kms:Decrypt"), allowDoc("kms:Encrypt").As(BoundaryLayer)}
	if d := KMSDecide(user, resourceDoc(alice, "kms:Decrypt"), bound, nil); !d.Allowed {
		t.Errorf("key policy naming the user: %+v, want allowed", d)
	}
	if d := KMSDecide(user, keyRoot, bound, nil); d.Allowed || d.Matched.Set != BoundarySet {
		t.Errorf("user, key policy delegating: %+v, want denied by the boundary", d)
	}
}

// The layers cost no allocation.
func TestLayersDoNotAllocate(t *testing.T) {
	req, key, identity, grants := realistic()
	layered := append(append([]*Policy{}, identity...), allowDoc("kms:*").As(BoundaryLayer), allowDoc("kms:Decrypt").As(SessionLayer))
	if d := KMSDecide(req, key, layered, grants); !d.Allowed {
		t.Fatalf("denied: %+v", d)
	}
	if n := testing.AllocsPerRun(100, func() { KMSDecide(req, key, layered, grants) }); n != 0 {
		t.Errorf("KMSDecide allocates %v times per call", n)
	}
}

func TestAsDoesNotChangeThePolicy(t *testing.T) {
	p := allowDoc("kms:*")
	q := p.As(SessionLayer)
	if p.Layer() != IdentityLayer || q.Layer() != SessionLayer || p.As(IdentityLayer) != p {
		t.Fatalf("layers: %d %d", p.Layer(), q.Layer())
	}
}

// DeniedWhy words AccessDenied messages as AWS does, for every kind of refusal.
func TestDeniedWhy(t *testing.T) {
	for _, c := range []struct {
		d    Decision
		want string
	}{
		{Decision{Reason: ImplicitDeny}, "because no identity-based policy allows the kms:Decrypt action"},
		{Decision{Reason: ImplicitDeny, Matched: StatementRef{Set: BoundarySet}}, "because no permissions boundary allows the kms:Decrypt action"},
		{Decision{Reason: ImplicitDeny, Matched: StatementRef{Set: SessionSet}}, "because no session policy allows the kms:Decrypt action"},
		{Decision{Reason: ExplicitDeny, Matched: StatementRef{Set: IdentitySet}}, "with an explicit deny in an identity-based policy"},
		{Decision{Reason: ExplicitDeny, Matched: StatementRef{Set: BoundarySet}}, "with an explicit deny in a permissions boundary"},
		{Decision{Reason: ExplicitDeny, Matched: StatementRef{Set: SessionSet}}, "with an explicit deny in a session policy"},
		{Decision{Reason: ExplicitDeny, Matched: StatementRef{Set: ResourceSet}}, "with an explicit deny in a resource-based policy"},
		{Decision{Reason: ExplicitDeny, Matched: StatementRef{Set: GrantSet}}, "with an explicit deny in a resource-based policy"},
	} {
		if got := c.d.DeniedWhy("kms:Decrypt"); got != c.want {
			t.Errorf("%+v: %q, want %q", c.d, got, c.want)
		}
	}
}
