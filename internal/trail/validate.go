package trail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ValidateInput is what Validate checks: the digests of a trail's source region whose end
// time lies in [Start, End+1h], walked backwards along the chain as
// `aws cloudtrail validate-logs` does.
type ValidateInput struct {
	Root       string // trail root directory (the buckets' parent)
	Trail      *Trail
	Region     string // source region (default: the trail's home region)
	Start, End time.Time
	PublicKeys map[string][]byte // DER PKCS#1 by fingerprint (ListPublicKeys)
	Keys       KeyService        // decrypts the data keys of encrypted files; may be nil
	Progress   func(format string, args ...any)
}

// Finding statuses.
const (
	StatusValid    = "valid"
	StatusModified = "modified" // a log file whose content does not match its digest's hash
	StatusDeleted  = "deleted"  // a log file named in a digest that is gone
	StatusMissing  = "missing"  // a digest file the chain names that is gone (the chain is broken there)
	StatusInvalid  = "invalid"  // a digest that fails its signature, format or chain checks; an unreadable log
)

// Finding is the outcome for one file.
type Finding struct {
	File    string `json:"file"` // "digest" or "log"
	Bucket  string `json:"bucket"`
	Key     string `json:"key"`
	Status  string `json:"status"`
	Message string `json:"message"` // CloudTrail's wording, e.g. "INVALID: not found"
}

// Line formats a finding as validate-logs prints it.
func (f Finding) Line() string {
	kind := "Digest file"
	if f.File == "log" {
		kind = "Log file"
	}
	return fmt.Sprintf("%s\ts3://%s/%s\t%s", kind, f.Bucket, f.Key, f.Message)
}

// Report is the result of Validate.
type Report struct {
	TrailARN       string    `json:"trailArn"`
	Start          time.Time `json:"startTime"`
	End            time.Time `json:"endTime"`
	FoundStart     time.Time `json:"foundStartTime,omitzero"`
	FoundEnd       time.Time `json:"foundEndTime,omitzero"`
	ValidDigests   int       `json:"validDigests"`
	InvalidDigests int       `json:"invalidDigests"`
	ValidLogs      int       `json:"validLogs"`
	InvalidLogs    int       `json:"invalidLogs"`
	ChainBroken    bool      `json:"chainBroken"`
	Findings       []Finding `json:"findings"`
	Gaps           []string  `json:"gaps,omitempty"`
}

// OK reports whether nothing was invalid.
func (r *Report) OK() bool { return r.InvalidDigests == 0 && r.InvalidLogs == 0 && !r.ChainBroken }

// Text formats the report like `aws cloudtrail validate-logs` (with every finding).
func (r *Report) Text(verbose bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Validating log files for trail %s between %s and %s\n\n", r.TrailARN, awsTime(r.Start), awsTime(r.End))
	// The blank lines are validate-logs': an INVALID line (stderr there) stands between
	// blank lines, valid lines (--verbose) follow each other.
	blank := true // the text ends with a blank line
	problem := func(line string) {
		if !blank {
			b.WriteByte('\n')
		}
		b.WriteString(line + "\n\n")
		blank = true
	}
	for _, f := range r.Findings {
		switch {
		case f.Status != StatusValid:
			problem(f.Line() + " (" + f.Status + ")")
		case verbose:
			b.WriteString(f.Line() + "\n")
			blank = false
		}
	}
	for _, g := range r.Gaps {
		problem(g)
	}
	if !blank {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "Results requested for %s to %s\n", awsTime(r.Start), awsTime(r.End))
	if r.ValidDigests+r.InvalidDigests == 0 {
		b.WriteString("No digests found\n")
		return b.String()
	}
	if r.FoundStart.IsZero() || r.FoundEnd.IsZero() {
		b.WriteString("No valid digests found in range\n")
	} else {
		fmt.Fprintf(&b, "Results found for %s to %s:\n", awsTime(r.FoundStart), awsTime(r.FoundEnd))
	}
	ratio := func(valid, invalid int, name string) {
		if total := valid + invalid; total > 0 {
			fmt.Fprintf(&b, "\n%d/%d %s files valid", valid, total, name)
			if invalid > 0 {
				fmt.Fprintf(&b, ", %d/%d %s files INVALID", invalid, total, name)
			}
		}
	}
	ratio(r.ValidDigests, r.InvalidDigests, "digest")
	ratio(r.ValidLogs, r.InvalidLogs, "log")
	b.WriteString("\n")
	return b.String()
}

// digestKeyDate extracts the end time from a digest key (…_YYYYMMDDTHHMMSSZ.json.gz).
func digestKeyDate(key string) string {
	if len(key) < 24 {
		return ""
	}
	return key[len(key)-24 : len(key)-8]
}

// listDigests lists the trail's digest keys of region whose date is in [start, end+1h],
// oldest first.
func listDigests(root string, t *Trail, region string, start, end time.Time) ([]string, error) {
	dir := objectKey(t.S3KeyPrefix, "AWSLogs/"+t.Account+"/CloudTrail-Digest/"+region)
	re := regexp.MustCompile("^" + regexp.QuoteMeta(dir) + `/\d+/\d+/\d+/` + regexp.QuoteMeta(t.Account+"_CloudTrail-Digest_"+region+"_"+t.Name+"_"+t.HomeRegion+"_") + `.+\.json\.gz$`)
	lo, hi := start.UTC().Format("20060102T150405Z"), end.UTC().Add(time.Hour).Format("20060102T150405Z")
	var keys []string
	err := walkObjects(root, t.S3BucketName, dir, func(key string) {
		if re.MatchString(key) {
			if d := digestKeyDate(key); d >= lo && d <= hi {
				keys = append(keys, key)
			}
		}
	})
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(digestKeyDate(a), digestKeyDate(b)) })
	return keys, err
}

type loadedDigest struct {
	d        *Digest
	inflated []byte
	sig      string
}

var errNotFound = errors.New("not found")

// readObject reads an object's file, decrypting and decompressing it.
func readObject(ctx context.Context, in *ValidateInput, bucket, key string) ([]byte, error) {
	data, err := readObjectFile(in.Root, bucket, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	data, err = Unseal(ctx, in.Keys, map[string]string{EncryptionContextKey: in.Trail.ARN()}, data)
	if err != nil {
		return nil, err
	}
	return Gunzip(data)
}

func (in *ValidateInput) loadDigest(ctx context.Context, bucket, key string) (*loadedDigest, *Finding) {
	bad := func(status, msg string) *Finding {
		return &Finding{File: "digest", Bucket: bucket, Key: key, Status: status, Message: "INVALID: " + msg}
	}
	inflated, err := readObject(ctx, in, bucket, key)
	if errors.Is(err, errNotFound) {
		return nil, bad(StatusMissing, "not found")
	}
	if err != nil {
		return nil, bad(StatusInvalid, "invalid format")
	}
	d, err := ParseDigest(inflated)
	if err != nil {
		return nil, bad(StatusInvalid, "invalid format")
	}
	if d.DigestS3Bucket != bucket || d.DigestS3Object != key {
		return nil, bad(StatusInvalid, "has been moved from its original location")
	}
	pub, ok := in.PublicKeys[d.DigestPublicKeyFingerprint]
	if !ok {
		return nil, bad(StatusInvalid, fmt.Sprintf("public key not found in region %s for fingerprint %s", in.Trail.HomeRegion, d.DigestPublicKeyFingerprint))
	}
	sb, err := readObjectFile(in.Root, bucket, key+SigSuffix)
	var sig Signature
	if err != nil || json.Unmarshal(sb, &sig) != nil || sig.Signature == "" || sig.SignatureAlgorithm != SignatureAlgorithm {
		return nil, bad(StatusInvalid, "signature verification failed")
	}
	if err := Verify(pub, d, inflated, sig.Signature); err != nil {
		return nil, bad(StatusInvalid, "signature verification failed")
	}
	return &loadedDigest{d: d, inflated: inflated, sig: sig.Signature}, nil
}

// Validate walks the digest chain from the newest digest in range back to Start, checks
// each digest's signature and place in the chain and each log file's hash.
func Validate(ctx context.Context, in *ValidateInput) (*Report, error) {
	t := in.Trail
	region := in.Region
	if region == "" {
		region = t.HomeRegion
	}
	progress := in.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	rep := &Report{TrailARN: t.ARN(), Start: in.Start.UTC().Truncate(time.Second), End: in.End.UTC().Truncate(time.Second), Findings: []Finding{}}
	digests, err := listDigests(in.Root, t, region, in.Start, in.End)
	if err != nil {
		return nil, err
	}
	// next pops the newest listed digest older than before (any, when before is "").
	next := func(before string) string {
		for len(digests) > 0 {
			k := digests[len(digests)-1]
			digests = digests[:len(digests)-1]
			if before == "" || digestKeyDate(k) < digestKeyDate(before) {
				return k
			}
		}
		return ""
	}
	at := t // where digests are listed: the trail's bucket and prefix, then where the chain leads
	bucket := t.S3BucketName
	key := next("")
	lastStart := rep.End
	if key != "" {
		if d, err := time.Parse("20060102T150405Z", digestKeyDate(key)); err == nil {
			lastStart = d
		}
	}
	var expectSig, expectHash string // what the digest walked from says about this one
	var expectEnd time.Time          // the start of the digest walked from
	for key != "" && !rep.Start.After(lastStart) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		progress("checking digest %s", key)
		ld, f := in.loadDigest(ctx, bucket, key)
		if f == nil && expectSig != "" {
			h := sha256.Sum256(ld.inflated)
			if ld.sig != expectSig || hex.EncodeToString(h[:]) != expectHash {
				f = &Finding{File: "digest", Bucket: bucket, Key: key, Status: StatusInvalid,
					Message: "INVALID: does not match the previous digest hash and signature recorded in the next digest"}
			}
		}
		if f == nil {
			// Times only go forward along a chain: this digest ends where the one walked
			// from starts, after its own start, at the time in its name.
			ds, _ := time.Parse(time.RFC3339, ld.d.DigestStartTime)
			de, _ := time.Parse(time.RFC3339, ld.d.DigestEndTime)
			if !ds.Before(de) || !expectEnd.IsZero() && !de.Equal(expectEnd) || digestKeyDate(key) != de.UTC().Format("20060102T150405Z") {
				f = &Finding{File: "digest", Bucket: bucket, Key: key, Status: StatusInvalid,
					Message: "INVALID: its digestStartTime and digestEndTime do not follow the chain"}
			}
		}
		expectSig, expectHash, expectEnd = "", "", time.Time{}
		if f != nil {
			rep.InvalidDigests++
			rep.ChainBroken = true
			rep.Findings = append(rep.Findings, *f)
			key = next(key)
			continue
		}
		d := ld.d
		rep.ValidDigests++
		rep.Findings = append(rep.Findings, Finding{File: "digest", Bucket: bucket, Key: key, Status: StatusValid, Message: "valid"})
		ds, _ := time.Parse(time.RFC3339, d.DigestStartTime)
		de, _ := time.Parse(time.RFC3339, d.DigestEndTime)
		if ds.After(rep.Start) {
			rep.FoundStart = ds
		} else {
			rep.FoundStart = rep.Start
		}
		if rep.FoundEnd.IsZero() {
			rep.FoundEnd = de
			if rep.End.Before(de) {
				rep.FoundEnd = rep.End
			}
		}
		lastStart = ds
		for _, lf := range d.LogFiles {
			progress("checking log file %s", lf.S3Object)
			rep.checkLog(ctx, in, lf)
		}
		if d.PreviousDigestS3Bucket == nil || d.PreviousDigestS3Object == nil {
			key = next(key)
			if key != "" {
				if nd, err := time.Parse("20060102T150405Z", digestKeyDate(key)); err == nil {
					rep.Gaps = append(rep.Gaps, fmt.Sprintf("No log files were delivered by CloudTrail between %s and %s", awsTime(nd), awsTime(lastStart)))
				}
			}
			continue
		}
		prevBucket, prevKey := *d.PreviousDigestS3Bucket, *d.PreviousDigestS3Object
		if prefix, ok := digestKeyPrefix(prevKey, t.Account); ok && (prevBucket != at.S3BucketName || prefix != at.S3KeyPrefix) {
			// The trail delivered to another bucket or prefix before: go on
			// listing there, so that a gap or a break further back is
			// followed in the right place.
			moved := *t
			moved.S3BucketName, moved.S3KeyPrefix = prevBucket, prefix
			if digests, err = listDigests(in.Root, &moved, region, in.Start, in.End); err != nil {
				return nil, err
			}
			at = &moved
		}
		bucket, key = prevBucket, prevKey
		if d.PreviousDigestSignature != nil && d.PreviousDigestHashValue != nil {
			expectSig, expectHash = *d.PreviousDigestSignature, *d.PreviousDigestHashValue
		}
		expectEnd = ds
		// Drop listed digests at or after the one the chain leads to.
		for len(digests) > 0 && digestKeyDate(digests[len(digests)-1]) >= digestKeyDate(key) {
			digests = digests[:len(digests)-1]
		}
	}
	return rep, nil
}

// digestKeyPrefix is the S3KeyPrefix of a digest key of account
// ([prefix/]AWSLogs/<account>/CloudTrail-Digest/...).
func digestKeyPrefix(key, account string) (string, bool) {
	rest := "AWSLogs/" + account + "/CloudTrail-Digest/"
	if strings.HasPrefix(key, rest) {
		return "", true
	}
	i := strings.LastIndex(key, "/"+rest)
	if i < 0 {
		return "", false
	}
	return key[:i], true
}

func (r *Report) checkLog(ctx context.Context, in *ValidateInput, lf LogFile) {
	f := Finding{File: "log", Bucket: lf.S3Bucket, Key: lf.S3Object}
	inflated, err := readObject(ctx, in, lf.S3Bucket, lf.S3Object)
	switch {
	case errors.Is(err, errNotFound):
		f.Status, f.Message = StatusDeleted, "INVALID: not found"
	case err != nil:
		f.Status, f.Message = StatusModified, "INVALID: invalid format"
	default:
		h := sha256.Sum256(inflated)
		if hex.EncodeToString(h[:]) != lf.HashValue {
			f.Status, f.Message = StatusModified, "INVALID: hash value doesn't match"
		} else {
			f.Status, f.Message = StatusValid, "valid"
		}
	}
	if f.Status == StatusValid {
		r.ValidLogs++
	} else {
		r.InvalidLogs++
	}
	r.Findings = append(r.Findings, f)
}
