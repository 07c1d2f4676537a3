package iam

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/crypto"
)

// mfaSeedBytes is the size of virtual MFA seeds (AWS's Base32StringSeed is 64 base32
// characters, i.e. 40 bytes).
const mfaSeedBytes = 40

// totpStep is the TOTP time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / int64(crypto.TOTPPeriod/time.Second) }

// matchStep returns the step in [from, to] whose code is code, or -1. Every candidate is
// compared in constant time.
func matchStep(seed []byte, code string, from, to int64) int64 {
	found := int64(-1)
	if len(code) != crypto.TOTPDigits {
		return found
	}
	for st := from; st <= to; st++ {
		if st < 0 {
			continue
		}
		want := crypto.TOTP(seed, time.Unix(st*int64(crypto.TOTPPeriod/time.Second), 0), crypto.TOTPDigits, crypto.TOTPPeriod, nil)
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && found < 0 {
			found = st
		}
	}
	return found
}

// VirtualMFADevice is IAM's VirtualMFADevice shape. Base32StringSeed is a blob: base64 of
// the base32 seed. QRCodePNG is not produced (see doc.go).
type VirtualMFADevice struct {
	SerialNumber     string `xml:"SerialNumber"`
	Base32StringSeed string `xml:"Base32StringSeed,omitempty"`
	User             *User  `xml:"User,omitempty"`
	EnableDate       string `xml:"EnableDate,omitempty"`
	Tags             *Tags  `xml:"Tags,omitempty"`
}

type CreateVirtualMFADeviceInput struct {
	VirtualMFADeviceName, Path string
	Tags                       []Tag
}

type CreateVirtualMFADeviceOutput struct {
	VirtualMFADevice VirtualMFADevice `xml:"VirtualMFADevice"`
}

func (s *Service) CreateVirtualMFADevice(ctx context.Context, c Caller, in CreateVirtualMFADeviceInput) (*CreateVirtualMFADeviceOutput, error) {
	if err := checkName("VirtualMFADeviceName", in.VirtualMFADeviceName, 226); err != nil {
		return nil, err
	}
	path, err := checkPath(in.Path)
	if err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	seed := make([]byte, mfaSeedBytes)
	if _, err := io.ReadFull(s.cfg.Rand, seed); err != nil {
		return nil, err
	}
	serial := mfaARN(c.Account, path, in.VirtualMFADeviceName)
	sealed, err := s.seal(serial, seed)
	if err != nil {
		return nil, err
	}
	d := &mfaDevice{Serial: serial, Account: c.Account, Name: in.VirtualMFADeviceName, Path: path, Seed: sealed, Created: second(s.now()), Tags: in.Tags}
	if err := s.propose(ctx, cmdMFACreate, d); err != nil {
		return nil, err
	}
	return &CreateVirtualMFADeviceOutput{VirtualMFADevice: VirtualMFADevice{SerialNumber: serial,
		Base32StringSeed: base64.StdEncoding.EncodeToString([]byte(crypto.Base32Secret(seed))), Tags: tagList(in.Tags)}}, nil
}

// device returns a copy of a device and its seed.
func (s *Service) device(acct, serial string) (*mfaDevice, []byte, error) {
	s.mu.RLock()
	d := s.mfas[serial]
	var cp mfaDevice
	if d != nil {
		cp = *d
	}
	s.mu.RUnlock()
	if d == nil || cp.Account != acct {
		return nil, nil, noSuch("VirtualMFADevice with serial number %s doesn't exist.", serial)
	}
	seed, err := s.unseal(serial, cp.Seed)
	if err != nil {
		return nil, nil, err
	}
	return &cp, seed, nil
}

// serialRE is serialNumberType's pattern (botocore's iam and sts models).
var serialRE = regexp.MustCompile(`^[\w+=/:,.@-]*$`)

func checkSerial(v string) error {
	if len(v) < 9 || len(v) > 256 {
		return validation("1 validation error detected: Value '%s' at 'serialNumber' failed to satisfy constraint: Member must have length greater than or equal to 9", v)
	}
	if !serialRE.MatchString(v) {
		return validation("1 validation error detected: Value '%s' at 'serialNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=/:,.@-]*", v)
	}
	return nil
}

// checkCode validates a 6-digit code (authenticationCodeType, tokenCodeType).
func checkCode(field, v string) error {
	if len(v) != 6 {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to 6 and less than or equal to 6", v, field)
	}
	if strings.Trim(v, "0123456789") != "" {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]+", v, field)
	}
	return nil
}

type EnableMFADeviceInput struct {
	UserName, SerialNumber, AuthenticationCode1, AuthenticationCode2 string
}

// EnableMFADevice enables a virtual MFA device for a user with two consecutive codes.
func (s *Service) EnableMFADevice(ctx context.Context, c Caller, in EnableMFADeviceInput) error {
	if err := checkName("UserName", in.UserName, 128); err != nil {
		return err
	}
	if err := checkSerial(in.SerialNumber); err != nil {
		return err
	}
	if err := checkCode("authenticationCode1", in.AuthenticationCode1); err != nil {
		return err
	}
	if err := checkCode("authenticationCode2", in.AuthenticationCode2); err != nil {
		return err
	}
	d, seed, err := s.device(c.Account, in.SerialNumber)
	if err != nil {
		return err
	}
	if d.UserName != "" {
		return iamErr("EntityAlreadyExists", "MFA Device is already in use.")
	}
	now := totpStep(s.now())
	// The first code may be a few periods old (the user typed both in turn).
	n := matchStep(seed, in.AuthenticationCode1, now-10, now)
	if n < 0 || matchStep(seed, in.AuthenticationCode2, n+1, n+1) != n+1 || n+1 > now+1 {
		return iamErr("InvalidAuthenticationCode", "Authentication code for device is not valid.")
	}
	return s.propose(ctx, cmdMFAEnable, mfaCmd{Serial: in.SerialNumber, Account: c.Account, UserName: in.UserName, Counter: n + 1, Time: second(s.now())})
}

type MFADevice struct {
	UserName     string `xml:"UserName"`
	SerialNumber string `xml:"SerialNumber"`
	EnableDate   string `xml:"EnableDate"`
}

type ListMFADevicesOutput struct {
	MFADevices  []MFADevice `xml:"MFADevices>member"`
	IsTruncated bool        `xml:"IsTruncated"`
	Marker      string      `xml:"Marker,omitempty"`
}

func (s *Service) ListMFADevices(ctx context.Context, c Caller, in ListAccessKeysInput) (*ListMFADevicesOutput, error) {
	name := in.UserName
	if name == "" {
		name = callerUserName(c)
	}
	if name != "" {
		if _, err := s.getEntity(kindUser, c.Account, name); err != nil {
			return nil, err
		}
	}
	var list []MFADevice
	s.mu.RLock()
	for _, d := range s.mfas {
		if d.Account == c.Account && d.UserName != "" && strings.EqualFold(d.UserName, name) {
			list = append(list, MFADevice{UserName: d.UserName, SerialNumber: d.Serial, EnableDate: d.Enabled.UTC().Format(timeFormat)})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(list, func(a, b MFADevice) int { return strings.Compare(a.SerialNumber, b.SerialNumber) })
	page, trunc, next, err := paginate(list, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &ListMFADevicesOutput{MFADevices: nonNil(page), IsTruncated: trunc, Marker: next}, nil
}

type DeactivateMFADeviceInput struct{ UserName, SerialNumber string }

func (s *Service) DeactivateMFADevice(ctx context.Context, c Caller, in DeactivateMFADeviceInput) error {
	name := in.UserName
	if name == "" {
		name = callerUserName(c)
	}
	if err := checkName("UserName", name, 128); err != nil {
		return err
	}
	if err := checkSerial(in.SerialNumber); err != nil {
		return err
	}
	return s.propose(ctx, cmdMFADeactivate, mfaCmd{Serial: in.SerialNumber, Account: c.Account, UserName: name})
}

type SerialNumberInput struct{ SerialNumber string }

func (s *Service) DeleteVirtualMFADevice(ctx context.Context, c Caller, in SerialNumberInput) error {
	if err := checkSerial(in.SerialNumber); err != nil {
		return err
	}
	return s.propose(ctx, cmdMFADelete, mfaCmd{Serial: in.SerialNumber, Account: c.Account})
}

// verifyMFA checks an MFA code of a device enabled for the user (acct, userName) and
// returns its TOTP step, which the session command consumes (replay guard).
func (s *Service) verifyMFA(acct, userName, serial, code string) (int64, error) {
	denied := iamErr("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code.")
	if err := checkSerial(serial); err != nil {
		return 0, err
	}
	if err := checkCode("tokenCode", code); err != nil {
		return 0, err
	}
	d, seed, err := s.device(acct, serial)
	if err != nil || userName == "" || !strings.EqualFold(d.UserName, userName) {
		return 0, iamErr("AccessDenied", "MultiFactorAuthentication failed, unable to validate MFA code.")
	}
	now := totpStep(s.now())
	st := matchStep(seed, code, now-1, now+1)
	if st < 0 || st <= d.LastCounter {
		return 0, denied
	}
	return st, nil
}

type ListVirtualMFADevicesInput struct {
	AssignmentStatus, Marker string
	MaxItems                 int
}

type ListVirtualMFADevicesOutput struct {
	VirtualMFADevices []VirtualMFADevice `xml:"VirtualMFADevices>member"`
	IsTruncated       bool               `xml:"IsTruncated"`
	Marker            string             `xml:"Marker,omitempty"`
}

// ListVirtualMFADevices lists the account's virtual MFA devices (AssignmentStatus
// Assigned, Unassigned or Any, the default), sorted by serial number. Seeds are never
// listed.
func (s *Service) ListVirtualMFADevices(ctx context.Context, c Caller, in ListVirtualMFADevicesInput) (*ListVirtualMFADevicesOutput, error) {
	switch in.AssignmentStatus {
	case "", "Any", "Assigned", "Unassigned":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'assignmentStatus' failed to satisfy constraint: Member must satisfy enum value set: [Unassigned, Any, Assigned]", in.AssignmentStatus)
	}
	var list []VirtualMFADevice
	s.mu.RLock()
	for _, d := range s.mfas {
		if d.Account != c.Account {
			continue
		}
		assigned := d.UserName != ""
		if (in.AssignmentStatus == "Assigned" && !assigned) || (in.AssignmentStatus == "Unassigned" && assigned) {
			continue
		}
		v := VirtualMFADevice{SerialNumber: d.Serial}
		if assigned {
			v.EnableDate = d.Enabled.UTC().Format(timeFormat)
			if u, ok := s.ents[entKey(kindUser, c.Account, d.UserName)]; ok {
				uv := userOf(u, false)
				v.User = &uv
			}
		}
		list = append(list, v)
	}
	s.mu.RUnlock()
	slices.SortFunc(list, func(a, b VirtualMFADevice) int { return strings.Compare(a.SerialNumber, b.SerialNumber) })
	page, trunc, next, err := paginate(list, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &ListVirtualMFADevicesOutput{VirtualMFADevices: nonNil(page), IsTruncated: trunc, Marker: next}, nil
}
