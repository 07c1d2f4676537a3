package hsm

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Key classes and types, persisted as these strings (cloudhsm-cli's names).
const (
	ClassSecret  = "secret-key"
	ClassPrivate = "private-key"
	ClassPublic  = "public-key"

	TypeAES           = "aes"
	TypeGenericSecret = "generic-secret"
	TypeRSA           = "rsa"
	TypeEC            = "ec"
	TypeEd25519       = "ed25519"
)

// Attributes are a key object's PKCS#11-style attributes, named as cloudhsm-cli names them.
// The first group can be chosen at creation (some changed later with set-attribute); the
// second group is read-only and maintained by the HSM.
type Attributes struct {
	Class           string `json:"class"`
	KeyType         string `json:"key-type"`
	Label           string `json:"label"`
	ID              string `json:"id"` // hex, "0x..." or empty
	Token           bool   `json:"token"`
	Private         bool   `json:"private"`
	Extractable     bool   `json:"extractable"`
	Sensitive       bool   `json:"sensitive"`
	Encrypt         bool   `json:"encrypt"`
	Decrypt         bool   `json:"decrypt"`
	Sign            bool   `json:"sign"`
	Verify          bool   `json:"verify"`
	Wrap            bool   `json:"wrap"`
	Unwrap          bool   `json:"unwrap"`
	Derive          bool   `json:"derive"`
	Trusted         bool   `json:"trusted"`
	WrapWithTrusted bool   `json:"wrap-with-trusted"`
	Modifiable      bool   `json:"modifiable"`
	Destroyable     bool   `json:"destroyable"`

	// Read-only.
	Local            bool   `json:"local"`
	AlwaysSensitive  bool   `json:"always-sensitive"`
	NeverExtractable bool   `json:"never-extractable"`
	CheckValue       string `json:"check-value"`
	KeyLengthBytes   int    `json:"key-length-bytes,omitempty"`
	ModulusSizeBits  int    `json:"modulus-size-bits,omitempty"`
	Modulus          string `json:"modulus,omitempty"`
	PublicExponent   string `json:"public-exponent,omitempty"`
	Curve            string `json:"curve,omitempty"`
	ECPoint          string `json:"ec-point,omitempty"`
}

// AttrSpec is what a caller may ask for when creating a key: unset fields take defaults.
// Booleans are pointers so that "not given" differs from false.
type AttrSpec struct {
	Label           string `json:"label,omitempty"`
	ID              string `json:"id,omitempty"`
	Session         bool   `json:"session,omitempty"` // a session key: gone at logout, never replicated
	Extractable     *bool  `json:"extractable,omitempty"`
	Sensitive       *bool  `json:"sensitive,omitempty"`
	Encrypt         *bool  `json:"encrypt,omitempty"`
	Decrypt         *bool  `json:"decrypt,omitempty"`
	Sign            *bool  `json:"sign,omitempty"`
	Verify          *bool  `json:"verify,omitempty"`
	Wrap            *bool  `json:"wrap,omitempty"`
	Unwrap          *bool  `json:"unwrap,omitempty"`
	Derive          *bool  `json:"derive,omitempty"`
	Trusted         *bool  `json:"trusted,omitempty"`
	WrapWithTrusted *bool  `json:"wrap-with-trusted,omitempty"`
	Modifiable      *bool  `json:"modifiable,omitempty"`
	Destroyable     *bool  `json:"destroyable,omitempty"`
}

// ParseAttrSpec parses cloudhsm-cli style "name=value" attribute assignments, e.g.
// ["sign=true", "label=my key"] (the CLI's --attributes and --private-attributes).
func ParseAttrSpec(pairs []string) (AttrSpec, error) {
	var s AttrSpec
	for _, p := range pairs {
		name, value, ok := strings.Cut(p, "=")
		if !ok {
			return s, invalid("attributes", "%q is not name=value", p)
		}
		name = strings.TrimSpace(strings.ToLower(name))
		value = strings.TrimSpace(value)
		if err := s.set(name, value); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (s *AttrSpec) set(name, value string) error {
	switch name {
	case "label":
		s.Label = value
		return nil
	case "id":
		s.ID = value
		return nil
	case "token":
		b, err := parseBool(name, value)
		if err != nil {
			return err
		}
		s.Session = !b
		return nil
	}
	ptrs := map[string]**bool{
		"extractable": &s.Extractable, "sensitive": &s.Sensitive, "encrypt": &s.Encrypt,
		"decrypt": &s.Decrypt, "sign": &s.Sign, "verify": &s.Verify, "wrap": &s.Wrap,
		"unwrap": &s.Unwrap, "derive": &s.Derive, "trusted": &s.Trusted,
		"wrap-with-trusted": &s.WrapWithTrusted, "modifiable": &s.Modifiable,
		"destroyable": &s.Destroyable,
	}
	p, ok := ptrs[name]
	if !ok {
		return invalid("attributes", "unknown or read-only attribute %q", name)
	}
	b, err := parseBool(name, value)
	if err != nil {
		return err
	}
	*p = &b
	return nil
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, invalid(name, "must be true or false, got %q", v)
}

func pick(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// apply builds the attributes of a new key of the given class and type from the spec.
// Defaults follow cloudhsm-cli: usage attributes false unless asked for, extractable true,
// sensitive true for secret and private keys, modifiable and destroyable true.
func (s AttrSpec) apply(class, keyType string) (Attributes, error) {
	if len(s.Label) > 127 {
		return Attributes{}, invalid("label", "at most 127 characters")
	}
	if s.ID != "" {
		if _, err := parseHexID(s.ID); err != nil {
			return Attributes{}, err
		}
	}
	secret := class != ClassPublic
	a := Attributes{
		Class:           class,
		KeyType:         keyType,
		Label:           s.Label,
		ID:              normalizeID(s.ID),
		Token:           !s.Session,
		Private:         secret,
		Extractable:     pick(s.Extractable, true),
		Sensitive:       pick(s.Sensitive, secret),
		Encrypt:         pick(s.Encrypt, false),
		Decrypt:         pick(s.Decrypt, false),
		Sign:            pick(s.Sign, false),
		Verify:          pick(s.Verify, false),
		Wrap:            pick(s.Wrap, false),
		Unwrap:          pick(s.Unwrap, false),
		Derive:          pick(s.Derive, false),
		Trusted:         pick(s.Trusted, false),
		WrapWithTrusted: pick(s.WrapWithTrusted, false),
		Modifiable:      pick(s.Modifiable, true),
		Destroyable:     pick(s.Destroyable, true),
	}
	if class == ClassPublic {
		a.Extractable = true
		a.Sensitive = false
	}
	if secret && !a.Sensitive {
		return Attributes{}, invalid("sensitive", "secret and private keys are always sensitive in Coffer: their plaintext never leaves the HSM")
	}
	// Usage that makes no sense for the class is refused rather than silently ignored.
	switch class {
	case ClassPublic:
		if a.Decrypt || a.Sign || a.Unwrap || a.Derive {
			return Attributes{}, invalid("attributes", "a public key cannot decrypt, sign, unwrap or derive")
		}
	case ClassPrivate:
		if a.Encrypt || a.Verify || a.Wrap {
			return Attributes{}, invalid("attributes", "a private key cannot encrypt, verify or wrap")
		}
	}
	if a.Trusted {
		return Attributes{}, invalid("trusted", "only an admin can mark a key trusted, with 'key set-attribute'")
	}
	return a, nil
}

func parseHexID(s string) ([]byte, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(t)
	if err != nil || len(b) > 64 {
		return nil, invalid("id", "must be hex (optionally 0x-prefixed), at most 64 bytes")
	}
	return b, nil
}

func normalizeID(s string) string {
	if s == "" {
		return ""
	}
	b, _ := parseHexID(s)
	return "0x" + hex.EncodeToString(b)
}

// setAttribute changes one attribute of a copy of a, enforcing what may change and how.
func setAttribute(a *Attributes, name, value string, isAdmin bool) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if name != "trusted" && isAdmin {
		return denied("key set-attribute", "admins may only change the trusted attribute")
	}
	if name == "trusted" && !isAdmin {
		return denied("key set-attribute", "only admins may change the trusted attribute")
	}
	if !a.Modifiable && name != "trusted" {
		return &ConflictError{Reason: "key set-attribute: the key is not modifiable"}
	}
	switch name {
	case "label":
		if len(value) > 127 {
			return invalid("label", "at most 127 characters")
		}
		a.Label = value
		return nil
	case "id":
		if _, err := parseHexID(value); err != nil {
			return err
		}
		a.ID = normalizeID(value)
		return nil
	}
	b, err := parseBool(name, value)
	if err != nil {
		return err
	}
	switch name {
	case "encrypt", "verify", "wrap":
		if b && a.Class == ClassPrivate {
			return invalid(name, "a private key cannot %s", name)
		}
	case "decrypt", "sign", "unwrap", "derive":
		if b && a.Class == ClassPublic {
			return invalid(name, "a public key cannot %s", name)
		}
	}
	switch name {
	case "encrypt":
		a.Encrypt = b
	case "decrypt":
		a.Decrypt = b
	case "sign":
		a.Sign = b
	case "verify":
		a.Verify = b
	case "wrap":
		a.Wrap = b
	case "unwrap":
		a.Unwrap = b
	case "derive":
		a.Derive = b
	case "trusted":
		a.Trusted = b
	case "wrap-with-trusted":
		if a.WrapWithTrusted && !b {
			return &ConflictError{Reason: "key set-attribute: wrap-with-trusted cannot be turned off once set"}
		}
		a.WrapWithTrusted = b
	case "modifiable":
		if b {
			return &ConflictError{Reason: "key set-attribute: modifiable can only be changed to false"}
		}
		a.Modifiable = false
	case "destroyable":
		if b && !a.Destroyable {
			return &ConflictError{Reason: "key set-attribute: destroyable cannot be turned back on"}
		}
		a.Destroyable = b
	case "extractable", "sensitive", "token", "private", "class", "key-type":
		return invalid(name, "cannot be changed after the key is created")
	default:
		return invalid("attribute", "unknown or read-only attribute %q", name)
	}
	return nil
}

// Filter selects keys: attr.<name>=<value> conditions (all must hold) and/or a key reference.
type Filter struct {
	Attrs map[string]string `json:"attrs,omitempty"`
	Ref   uint64            `json:"key_reference,omitempty"`
}

// ParseFilter parses cloudhsm-cli filters: "attr.label=foo", "key-reference=0x12".
func ParseFilter(exprs []string) (Filter, error) {
	f := Filter{Attrs: map[string]string{}}
	for _, e := range exprs {
		name, value, ok := strings.Cut(e, "=")
		if !ok {
			return f, invalid("filter", "%q is not attr.<name>=<value> or key-reference=<ref>", e)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "key-reference":
			ref, err := ParseKeyRef(value)
			if err != nil {
				return f, err
			}
			f.Ref = ref
		case strings.HasPrefix(name, "attr."):
			f.Attrs[strings.TrimPrefix(name, "attr.")] = value
		default:
			return f, invalid("filter", "%q: filters are attr.<name>=<value> or key-reference=<ref>", e)
		}
	}
	return f, nil
}

// ParseKeyRef parses a key reference in hex ("0x000000000000001a") or decimal.
func ParseKeyRef(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	var v uint64
	var err error
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		v, err = strconv.ParseUint(s[2:], 16, 64)
	} else {
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil || v == 0 {
		return 0, invalid("key-reference", "%q is not a key reference (hex like 0x000000000000001a)", s)
	}
	return v, nil
}

// FormatKeyRef formats a handle as cloudhsm-cli prints key references.
func FormatKeyRef(h uint64) string { return fmt.Sprintf("0x%016x", h) }

// usage reports a usage attribute without allocating (the hot path's check).
func (a *Attributes) usage(name string) bool {
	switch name {
	case "encrypt":
		return a.Encrypt
	case "decrypt":
		return a.Decrypt
	case "sign":
		return a.Sign
	case "verify":
		return a.Verify
	case "wrap":
		return a.Wrap
	case "unwrap":
		return a.Unwrap
	case "derive":
		return a.Derive
	}
	return false
}

// attrValue renders an attribute for filter matching.
func (a *Attributes) value(name string) (string, bool) {
	switch name {
	case "class":
		return a.Class, true
	case "key-type":
		return a.KeyType, true
	case "label":
		return a.Label, true
	case "id":
		return a.ID, true
	case "check-value":
		return a.CheckValue, true
	case "curve":
		return a.Curve, true
	case "key-length-bytes":
		return strconv.Itoa(a.KeyLengthBytes), true
	case "modulus-size-bits":
		return strconv.Itoa(a.ModulusSizeBits), true
	}
	bools := map[string]bool{
		"token": a.Token, "private": a.Private, "extractable": a.Extractable, "sensitive": a.Sensitive,
		"encrypt": a.Encrypt, "decrypt": a.Decrypt, "sign": a.Sign, "verify": a.Verify,
		"wrap": a.Wrap, "unwrap": a.Unwrap, "derive": a.Derive, "trusted": a.Trusted,
		"wrap-with-trusted": a.WrapWithTrusted, "modifiable": a.Modifiable,
		"destroyable": a.Destroyable, "local": a.Local, "always-sensitive": a.AlwaysSensitive,
		"never-extractable": a.NeverExtractable,
	}
	b, ok := bools[name]
	return strconv.FormatBool(b), ok
}

func (f Filter) matches(o *keyObject) (bool, error) {
	if f.Ref != 0 && o.Handle != f.Ref {
		return false, nil
	}
	names := make([]string, 0, len(f.Attrs))
	for n := range f.Attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v, ok := o.Attrs.value(n)
		if !ok {
			return false, invalid("filter", "unknown attribute %q", n)
		}
		want := f.Attrs[n]
		if n == "id" {
			want = normalizeID(want)
		}
		if n == "label" {
			if v != want {
				return false, nil
			}
		} else if !strings.EqualFold(v, want) {
			return false, nil
		}
	}
	return true, nil
}
